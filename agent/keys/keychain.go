package keys

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/casekeep/casekeep/internal/wire"
)

// The offline copy in the macOS System keychain, through /usr/bin/security
// (CGO is off in the builds, so Security.framework is out of reach). The
// commands are written to `security -i` on its standard input, so the copy
// never appears on a command line where ps would show it. The item is a
// generic password whose value is the copy in hex behind a marker, so that
// it survives security's quoting and is found in its output whatever
// prompts surround it.
const (
	keychainPath    = "/Library/Keychains/System.keychain"
	keychainService = "org.casekeep.agent"
	keychainAccount = "offline-lease"
	keychainMarker  = "ckoffline1:"
)

// securityRunner runs `security -i` with the given commands on its
// standard input, and returns its standard output and error.
type securityRunner func(commands []byte) (stdout, stderr []byte, err error)

// keychainProtector holds the copy as a System keychain item.
type keychainProtector struct {
	run securityRunner
}

func (p *keychainProtector) kind() string { return wire.OfflineOS }

// keychainCommand returns one `security` command line for the item.
func keychainCommand(verb string, extra ...string) string {
	args := append([]string{verb, "-a", keychainAccount, "-s", keychainService}, extra...)
	return strings.Join(append(args, keychainPath), " ") + "\n"
}

func (p *keychainProtector) save(blob []byte) error {
	value := keychainMarker + hex.EncodeToString(blob)
	cmd := []byte(keychainCommand("add-generic-password", "-U", "-l", "casekeep-offline-lease", "-w", value))
	defer clear(cmd)
	_, stderr, err := p.run(cmd)
	if err := securityFailed(stderr, err); err != nil {
		return fmt.Errorf("keychain: saving the offline copy: %w", err)
	}
	return nil
}

func (p *keychainProtector) load() ([]byte, error) {
	stdout, stderr, err := p.run([]byte(keychainCommand("find-generic-password", "-w")))
	defer clear(stdout)
	if err := securityFailed(stderr, err); err != nil {
		return nil, fmt.Errorf("keychain: reading the offline copy: %w", err)
	}
	return parseKeychainValue(stdout)
}

func (p *keychainProtector) held() bool {
	// Without -w, security prints the item's attributes, not its value.
	_, stderr, err := p.run([]byte(keychainCommand("find-generic-password")))
	return securityFailed(stderr, err) == nil
}

func (p *keychainProtector) remove() error {
	_, stderr, err := p.run([]byte(keychainCommand("delete-generic-password")))
	if err := securityFailed(stderr, err); err != nil && !isNotExist(err) {
		return fmt.Errorf("keychain: removing the offline copy: %w", err)
	}
	return nil
}

// securityFailed turns what `security -i` said into an error: it exits 0
// even when a command fails, and says so on its standard error. A missing
// item is an error wrapping fs.ErrNotExist.
func securityFailed(stderr []byte, err error) error {
	msg := strings.TrimSpace(string(stderr))
	switch {
	case strings.Contains(msg, "could not be found"):
		return fmt.Errorf("no keychain item: %w", fs.ErrNotExist)
	case err != nil && msg != "":
		return fmt.Errorf("%w: %s", err, firstLine(msg))
	case err != nil:
		return err
	case msg != "":
		return fmt.Errorf("security: %s", firstLine(msg))
	}
	return nil
}

// parseKeychainValue finds the copy in find-generic-password -w's output.
// Its errors never quote the output.
func parseKeychainValue(out []byte) ([]byte, error) {
	i := bytes.Index(out, []byte(keychainMarker))
	if i < 0 {
		return nil, fmt.Errorf("%w: the keychain item is not a casekeep offline copy", ErrDamaged)
	}
	v := out[i+len(keychainMarker):]
	end := bytes.IndexFunc(v, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) })
	if end >= 0 {
		v = v[:end]
	}
	if len(v) == 0 || len(v)%2 != 0 || len(v) > 2*maxOffline {
		return nil, fmt.Errorf("%w: the keychain item's value is not whole", ErrDamaged)
	}
	b := make([]byte, len(v)/2)
	if _, err := hex.Decode(b, v); err != nil {
		return nil, fmt.Errorf("%w: the keychain item's value is not hex", ErrDamaged)
	}
	return b, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
