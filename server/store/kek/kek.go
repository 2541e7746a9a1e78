package kek

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/casekeep/casekeep/internal/atomicfile"
)

// File is the key-encryption key's file name in the server's data folder.
const File = "lease-kek"

// version is the first byte of a sealed key: the format.
const version = 1

// Sealer seals and opens lease keys; it is a store.KeySealer.
type Sealer struct {
	key []byte
}

// New returns a sealer with a chacha20poly1305.KeySize key.
func New(key []byte) (*Sealer, error) {
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("lease key-encryption key: %d bytes, want %d", len(key), chacha20poly1305.KeySize)
	}
	return &Sealer{key: append([]byte(nil), key...)}, nil
}

// LoadOrCreate returns the sealer of dir's File, making the file (random,
// mode 0600) if there is none.
func LoadOrCreate(dir string) (*Sealer, error) {
	return LoadOrCreateFile(filepath.Join(dir, File))
}

// LoadOrCreateFile returns the sealer of the key file path, making the
// file (random, mode 0600) if there is none.
func LoadOrCreateFile(path string) (*Sealer, error) {
	return load(path, true)
}

// LoadFile returns the sealer of the key file path, which must exist: a
// command that only uses the key must not make another.
func LoadFile(path string) (*Sealer, error) {
	return load(path, false)
}

func load(path string, create bool) (*Sealer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		b = make([]byte, chacha20poly1305.KeySize)
		rand.Read(b)
		if err := atomicfile.CreateNew(path, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	s, err := New(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ad is the additional data that binds a sealed key to its device and ID.
func ad(deviceID, keyID string) []byte {
	return []byte("casekeep lease key\x00" + deviceID + "\x00" + keyID)
}

// Seal seals the lease key keyID of device deviceID.
func (s *Sealer) Seal(deviceID, keyID string, key []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(s.key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(key)+aead.Overhead())
	out[0] = version
	rand.Read(out[1:])
	return aead.Seal(out, out[1:1+aead.NonceSize()], key, ad(deviceID, keyID)), nil
}

// ErrOpen is returned for a sealed key that does not open: another
// key-encryption key, another device or key ID, or changed bytes.
var ErrOpen = errors.New("the lease key does not open with this server's key-encryption key (" + File + ")")

// Open opens what Seal sealed for the same device and key ID.
func (s *Sealer) Open(deviceID, keyID string, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(s.key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	n := sealed[1 : 1+aead.NonceSize()]
	key, err := aead.Open(nil, n, sealed[1+aead.NonceSize():], ad(deviceID, keyID))
	if err != nil {
		return nil, ErrOpen
	}
	return key, nil
}
