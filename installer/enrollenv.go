package installer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// The keys of the enrollment file.
const (
	EnvServer = "CASEKEEP_SERVER"
	EnvToken  = "CASEKEEP_ENROLL_TOKEN"
)

// maxEnrollEnv bounds the enrollment file: it holds two short lines.
const maxEnrollEnv = 64 << 10

// ErrBadEnrollEnv means the enrollment file cannot be read as KEY=VALUE
// lines with a usable server URL.
var ErrBadEnrollEnv = errors.New("bad enrollment file")

// EnrollEnv is what the enrollment file says: the server to enroll with and
// the enrollment token (empty once used).
type EnrollEnv struct {
	Server string
	Token  string
}

// ParseEnrollEnv reads an enrollment file: lines of KEY=VALUE (the format
// of systemd's EnvironmentFile and of shell assignments), where VALUE may be
// in single or double quotes; blank lines and lines starting with # are
// skipped, and keys other than CASEKEEP_SERVER and CASEKEEP_ENROLL_TOKEN
// are ignored. The server must be an https URL with a host.
func ParseEnrollEnv(data []byte) (EnrollEnv, error) {
	var e EnrollEnv
	if len(data) > maxEnrollEnv {
		return e, fmt.Errorf("%w: %d bytes, over %d", ErrBadEnrollEnv, len(data), maxEnrollEnv)
	}
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return e, fmt.Errorf("%w: it is UTF-16 text; save it as UTF-8 or ASCII (PowerShell: Set-Content -Encoding ascii)", ErrBadEnrollEnv)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxEnrollEnv)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return EnrollEnv{}, fmt.Errorf("%w: line %d is not KEY=VALUE", ErrBadEnrollEnv, n)
		}
		value, err := unquote(strings.TrimSpace(value))
		if err != nil {
			return EnrollEnv{}, fmt.Errorf("%w: line %d: %v", ErrBadEnrollEnv, n, err)
		}
		switch strings.TrimSpace(key) {
		case EnvServer:
			e.Server = value
		case EnvToken:
			e.Token = value
		}
	}
	if err := sc.Err(); err != nil {
		return EnrollEnv{}, fmt.Errorf("%w: %v", ErrBadEnrollEnv, err)
	}
	if e.Server != "" {
		if err := CheckServerURL(e.Server); err != nil {
			return EnrollEnv{}, fmt.Errorf("%w: %s: %v", ErrBadEnrollEnv, EnvServer, err)
		}
	}
	if strings.ContainsFunc(e.Token, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return EnrollEnv{}, fmt.Errorf("%w: %s holds spaces or control characters", ErrBadEnrollEnv, EnvToken)
	}
	return e, nil
}

func unquote(v string) (string, error) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if v[len(v)-1] != v[0] {
			return "", errors.New("unbalanced quotes")
		}
		return v[1 : len(v)-1], nil
	}
	if strings.ContainsAny(v, `"'`) {
		return "", errors.New("unbalanced quotes")
	}
	return v, nil
}

// CheckServerURL reports whether u can be a casekeep server's URL: https,
// with a host, and nothing that could smuggle another line into a file or
// a command.
func CheckServerURL(u string) error {
	if strings.ContainsFunc(u, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return errors.New("the URL holds spaces or control characters")
	}
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("%q is not an https://host URL", u)
	}
	return nil
}

// ReadEnrollEnv reads the enrollment file at path. A missing file is
// fs.ErrNotExist. The file is read through no symlink, must not be larger
// than 64 KiB, and must belong to root/SYSTEM (or Administrators): one
// another user could have written is refused with ErrNotProtected, since it
// names the server the device would trust.
func ReadEnrollEnv(path string) (EnrollEnv, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return EnrollEnv{}, err
	}
	if !fi.Mode().IsRegular() {
		return EnrollEnv{}, fmt.Errorf("%s: %w: not a regular file", path, ErrBadEnrollEnv)
	}
	if err := checkOwner(path, fi); err != nil {
		return EnrollEnv{}, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return EnrollEnv{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEnrollEnv+1))
	if err != nil {
		return EnrollEnv{}, err
	}
	e, err := ParseEnrollEnv(data)
	if err != nil {
		return EnrollEnv{}, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// Format returns the file's text for e. The values are put in double
// quotes as they are, not escaped: ParseEnrollEnv takes a quoted value
// verbatim (a valid server URL and token hold no line break).
func (e EnrollEnv) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# casekeep enrollment: read by the casekeep service on its first start.\n")
	b.WriteString("# The token is removed from this file once the device has enrolled.\n")
	fmt.Fprintf(&b, "%s=\"%s\"\n", EnvServer, e.Server)
	if e.Token != "" {
		fmt.Fprintf(&b, "%s=\"%s\"\n", EnvToken, e.Token)
	}
	return b.Bytes()
}

// WriteEnrollEnv writes e to path atomically, readable by root/SYSTEM only.
func WriteEnrollEnv(path string, e EnrollEnv) error {
	if err := CheckServerURL(e.Server); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if strings.ContainsFunc(e.Token, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return errors.New("the token holds spaces or control characters")
	}
	if err := atomicfile.WriteFile(path, e.Format(), 0o600); err != nil {
		return err
	}
	return protectSecret(path)
}

// ForgetToken removes the token from the enrollment file at path, once the
// device has enrolled, keeping the server URL for reference. A missing file
// is not an error.
func ForgetToken(path string) error {
	e, err := ReadEnrollEnv(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.Token == "" {
		return nil
	}
	e.Token = ""
	if e.Server == "" {
		return os.Remove(path)
	}
	return WriteEnrollEnv(path, e)
}
