package cloudsync

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/casekeep/casekeep/internal/printable"
)

// maxPath bounds a path taken from a configuration file or the registry;
// longer ones are refused as malformed.
const maxPath = 4096

// maxName bounds a tenant or team name taken from a configuration.
const maxName = 256

// idKind says how an account identifier is compared with an approved entry.
type idKind int

const (
	idDomain idKind = iota // an email domain or a host: equal, or a subdomain
	idTenant               // a tenant ID (GUID): equal ignoring case and braces
	idName                 // a tenant or team name: equal ignoring case, spaces, punctuation
)

// id is one thing that identifies an account.
type id struct {
	kind idKind
	v    string
}

// approved reports whether an account of kind with identifiers ids is one
// of the approved entries.
func approved(kind AccountKind, ids []id, entries []string) bool {
	if kind == KindPersonal {
		return false
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "*" {
			return true
		}
		for _, i := range ids {
			if i.matches(e) {
				return true
			}
		}
	}
	return false
}

// matches compares an identifier with an approved entry.
func (i id) matches(entry string) bool {
	switch i.kind {
	case idDomain:
		e := strings.ToLower(strings.Trim(entry, ". "))
		return e != "" && strings.Contains(e, ".") && (i.v == e || strings.HasSuffix(i.v, "."+e))
	case idTenant:
		e := strings.ToLower(strings.Trim(entry, "{} "))
		return e != "" && e == i.v
	default:
		e := normName(entry)
		return e != "" && e == normName(i.v)
	}
}

// normName folds a name for comparison: letters and digits only, lower case.
// "Kent County Council", "KentCountyCouncil" and "kent-county council" are
// one name.
func normName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// emailDomain returns the domain of an email address, lower case, or "" if
// s does not end in a plausible domain. The part before the @ is dropped:
// it names a person.
func emailDomain(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return ""
	}
	return hostName(s[at+1:])
}

// hostName returns s, lower case, if it is a plausible DNS name with at
// least two labels (ASCII letters, digits and hyphens), else "".
func hostName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return ""
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return ""
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return ""
			}
		}
	}
	return s
}

// tenantID returns a GUID in lower case without braces, or "" if s is not one.
func tenantID(s string) string {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}"))
	if len(s) != 36 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return ""
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return ""
			}
		}
	}
	return s
}

// cleanName returns a tenant or team name fit to report and compare:
// trimmed, what may not be shown (invalid UTF-8, control and format
// characters) replaced with U+FFFD, so that a name with hidden characters
// never passes for another, and at most maxName characters, the last an
// ellipsis when it was cut (see [printable.Text]); "" if nothing is left.
func cleanName(s string) string {
	return printable.Text(s, printable.Options{MaxRunes: maxName, Trim: true})
}

// orgName returns a tenant or team name taken from a folder's name or a
// configuration, fit to report (see cleanName). A name with an @ in it is
// taken for an email address, of which only the domain is kept.
func orgName(s string) string {
	if strings.Contains(s, "@") {
		return emailDomain(s)
	}
	return cleanName(s)
}

// cleanAbs checks a path taken from a configuration: not empty, no NUL, not
// too long, absolute. It returns it cleaned; a relative path is refused,
// never joined to anything.
func cleanAbs(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("%w: empty path", ErrMalformed)
	case len(p) > maxPath:
		return "", fmt.Errorf("%w: path longer than %d bytes", ErrMalformed, maxPath)
	case strings.ContainsRune(p, 0):
		return "", fmt.Errorf("%w: path contains NUL", ErrMalformed)
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("%w: path is not absolute", ErrMalformed)
	}
	return filepath.Clean(p), nil
}

// nameIDs returns the identifiers of a tenant or team name: the name, and
// the name as a domain when it is one (macOS names some OneDrive folders
// after the tenant's domain, OneDrive-example.ac.uk).
func nameIDs(name string) []id {
	if name == "" {
		return nil
	}
	ids := []id{{idName, name}}
	if d := hostName(name); d != "" {
		ids = append(ids, id{idDomain, d})
	}
	return ids
}
