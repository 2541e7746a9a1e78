package cloudsync

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// Bounds on what is read from a hive, which its user can write.
const (
	maxSubKeys  = 4096
	maxRegValue = 64 << 10 // bytes
)

// winRegistry is the real registry, read in its 64-bit view.
type winRegistry struct{}

func systemRegistry() Registry { return winRegistry{} }

// open opens the key at path (HKLM\... or HKU\...) for reading.
func (winRegistry) open(path string) (registry.Key, error) {
	rootName, rest, _ := strings.Cut(path, `\`)
	var root registry.Key
	switch strings.ToUpper(rootName) {
	case "HKLM", "HKEY_LOCAL_MACHINE":
		root = registry.LOCAL_MACHINE
	case "HKU", "HKEY_USERS":
		root = registry.USERS
	default:
		return 0, fmt.Errorf("registry: unknown root key %q", rootName)
	}
	return registry.OpenKey(root, rest, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS|registry.WOW64_64KEY)
}

func (r winRegistry) SubKeys(path string) ([]string, error) {
	k, err := r.open(path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(maxSubKeys)
	if errors.Is(err, io.EOF) {
		err = nil // fewer than maxSubKeys
	}
	return names, err
}

func (r winRegistry) String(path, name string) (string, error) {
	k, err := r.open(path)
	if err != nil {
		return "", err
	}
	defer k.Close()
	n, typ, err := k.GetValue(name, nil)
	if err != nil {
		return "", err
	}
	if typ != registry.SZ && typ != registry.EXPAND_SZ {
		return "", registry.ErrUnexpectedType
	}
	if n > maxRegValue {
		return "", fmt.Errorf("registry: %s\\%s: value larger than %d bytes", path, name, maxRegValue)
	}
	v, _, err := k.GetStringValue(name)
	return v, err
}
