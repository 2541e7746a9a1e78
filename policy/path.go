package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Paths in a policy are written for the operating system they apply to and
// expanded on the device, for the user whose files they hold:
//
//   - "~" at the start stands for the user's home folder, on every OS;
//   - on Windows, "%NAME%" at the start stands for an environment variable of
//     the user, such as %LOCALAPPDATA% or %USERPROFILE%;
//   - otherwise a path must be absolute ("/..." or "C:\...").
//
// Relative paths, ".." elements and network (UNC) paths are refused.

// ErrUndefinedVariable is returned by [ExpandPath] when a path names an
// environment variable that the user's environment does not define.
var ErrUndefinedVariable = errors.New("undefined environment variable")

// ExpandPath expands a policy path for goos ("linux", "darwin", "windows")
// with the user's home folder and environment (getenv reports whether the
// variable is set), and returns it cleaned, with the OS's separators. It
// fails if the path is not valid policy syntax, if a variable is undefined,
// or if the expansion is not an absolute path.
func ExpandPath(p, goos, home string, getenv func(string) (string, bool)) (string, error) {
	if err := checkPath(goos, p, false); err != nil {
		return "", fmt.Errorf("policy path %q %v", p, err)
	}
	rest := p
	var prefix string
	switch {
	case strings.HasPrefix(p, "~"):
		if home == "" {
			return "", fmt.Errorf("policy path %q: no home folder for this user", p)
		}
		prefix, rest = home, p[1:]
	case goos == "windows" && strings.HasPrefix(p, "%"):
		end := strings.Index(p[1:], "%") + 1
		name := p[1:end]
		v, ok := getenv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("policy path %q: %%%s%%: %w", p, name, ErrUndefinedVariable)
		}
		prefix, rest = v, p[end+1:]
	}
	full := prefix + rest
	if goos == "windows" {
		full = strings.ReplaceAll(full, `\`, "/")
	}
	if !isAbs(goos, full) || strings.HasPrefix(full, "//") {
		return "", fmt.Errorf("policy path %q expands to %q, which is not an absolute local path", p, full)
	}
	full = path.Clean(full)
	if goos == "windows" {
		full = strings.ReplaceAll(full, "/", `\`)
		if len(full) == 2 { // "C:" means the current folder on drive C.
			full += `\`
		}
	}
	return full, nil
}

// checkPath checks the syntax of a path for goos. A cache folder (own set)
// must not be the home folder or a drive itself, since everything in it gets
// sealed.
func checkPath(goos, p string, own bool) error {
	if p == "" {
		return errors.New("is empty")
	}
	if len(p) > maxPathLen || !printable(p) {
		return fmt.Errorf("must be at most %d printable characters", maxPathLen)
	}
	norm := p
	if goos == "windows" {
		norm = strings.ReplaceAll(p, `\`, "/")
	}
	var rest string
	switch {
	case strings.HasPrefix(norm, "~"):
		rest = norm[1:]
		if rest != "" && rest[0] != '/' {
			return errors.New(`uses "~name", which is not supported: write "~/" for the user's home folder`)
		}
	case goos == "windows" && strings.HasPrefix(norm, "%"):
		end := strings.Index(norm[1:], "%")
		if end < 0 {
			return errors.New(`has a "%" without its closing "%"`)
		}
		name := norm[1 : end+1]
		if !validVarName(name) {
			return fmt.Errorf("names %q, which is not an environment variable name", "%"+name+"%")
		}
		rest = norm[end+2:]
		if rest != "" && rest[0] != '/' {
			return fmt.Errorf(`must have a "\" after %%%s%%`, name)
		}
	case goos == "windows" && strings.HasPrefix(norm, "//"):
		return errors.New("is a network (UNC) path: casekeep keeps files on local disks only")
	case isAbs(goos, norm):
		rest = norm
		if goos == "windows" {
			rest = norm[2:]
		}
	case goos == "windows":
		return errors.New(`is relative: write an absolute path such as C:\casekeep, or start it with "~\" or a variable such as %LOCALAPPDATA%\`)
	default:
		return errors.New(`is relative: write an absolute path, or start it with "~/"`)
	}
	for _, elem := range strings.Split(rest, "/") {
		if elem == ".." {
			return errors.New(`must not contain ".."`)
		}
	}
	if own && strings.Trim(rest, "/.") == "" {
		return errors.New("must be a folder of its own, not a home folder, variable or drive itself")
	}
	return nil
}

// checkAnyOSPath checks a path that applies on every OS, such as a sweep
// folder: it must be valid for at least one of them.
func checkAnyOSPath(p string) error {
	var first error
	for _, goos := range []string{"linux", "windows"} {
		err := checkPath(goos, p, false)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func isAbs(goos, slashed string) bool {
	if goos == "windows" {
		return len(slashed) >= 3 && isLetter(slashed[0]) && slashed[1] == ':' && slashed[2] == '/'
	}
	return strings.HasPrefix(slashed, "/")
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

func validVarName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(isLetter(b) || b == '_' || b == '(' || b == ')' || i > 0 && '0' <= b && b <= '9') {
			return false
		}
	}
	return true
}
