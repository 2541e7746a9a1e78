package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"filippo.io/age"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// FileName is the name of the identity file in the state folder.
const FileName = "device-identity.txt"

// ErrLocked is returned by [Device.Identities] when the identity is not
// available on this device right now (for example, its lease has expired).
var ErrLocked = errors.New("device identity is locked")

// ErrNoIdentity is returned by [Load] when no identity has been created yet.
var ErrNoIdentity = errors.New("no device identity (has the agent run yet?)")

// Device is the device's age identity as the vault uses it.
type Device interface {
	// Recipient is the public key new files are sealed to.
	Recipient() age.Recipient
	// Identities returns every identity that opens this device's files,
	// newest first, or an error wrapping ErrLocked.
	Identities() ([]age.Identity, error)
}

// File is a [Device] kept in plain form in a file in the state folder.
type File struct {
	ids       []age.Identity // newest first
	recipient age.Recipient
}

var _ Device = (*File)(nil)

// Recipient implements [Device].
func (f *File) Recipient() age.Recipient { return f.recipient }

// Identities implements [Device].
func (f *File) Identities() ([]age.Identity, error) { return f.ids, nil }

// PostQuantum reports whether the newest identity is hybrid post-quantum.
func (f *File) PostQuantum() bool {
	_, ok := f.recipient.(*age.HybridRecipient)
	return ok
}

// Load reads the identity from the state folder dir.
func Load(dir string) (*File, error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		// Keep it private even if someone loosened the mode.
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, fmt.Errorf("%s is readable by others and cannot be made private: %w", path, err)
			}
		}
	}
	return parse(b, path)
}

func parse(b []byte, path string) (*File, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		// age's parse errors never include key material.
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	f := &File{}
	// The file lists identities oldest first; the last is the current one.
	for i := len(ids) - 1; i >= 0; i-- {
		f.ids = append(f.ids, ids[i])
	}
	switch id := f.ids[0].(type) {
	case *age.X25519Identity:
		f.recipient = id.Recipient()
	case *age.HybridIdentity:
		f.recipient = id.Recipient()
	default:
		return nil, fmt.Errorf("%s: unsupported identity type %T", path, id)
	}
	return f, nil
}

// LoadOrCreate loads the identity from dir, creating it on first use. If the
// current identity is not of the kind asked for (postQuantum or X25519), a
// new one of that kind is generated and becomes current; the old ones are
// kept to open files sealed before. The file is written with mode 0600; dir
// must already be private (see package state).
func LoadOrCreate(dir string, postQuantum bool, now time.Time) (*File, error) {
	f, err := Load(dir)
	switch {
	case err == nil && f.PostQuantum() == postQuantum:
		return f, nil
	case err != nil && !errors.Is(err, ErrNoIdentity):
		return nil, err
	}
	line, err := generate(postQuantum)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	var content bytes.Buffer
	if f == nil {
		content.WriteString("# casekeep device identity: opens this laptop's sealed case files.\n")
		content.WriteString("# Readable by root/SYSTEM only. Never copy it off this device.\n")
	} else {
		old, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		content.Write(old)
		if !bytes.HasSuffix(old, []byte("\n")) {
			content.WriteString("\n")
		}
	}
	kind := "X25519"
	if postQuantum {
		kind = "hybrid post-quantum (ML-KEM-768 + X25519)"
	}
	fmt.Fprintf(&content, "# %s identity created %s\n%s\n", kind, now.UTC().Format(time.RFC3339), line)
	if f == nil {
		err = atomicfile.CreateNew(path, content.Bytes(), 0o600)
	} else {
		err = atomicfile.WriteFile(path, content.Bytes(), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("saving device identity: %w", err)
	}
	return parse(content.Bytes(), path)
}

func generate(postQuantum bool) (string, error) {
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return "", err
		}
		return id.String(), nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
