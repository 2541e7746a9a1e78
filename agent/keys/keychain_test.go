package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// fakeSecurity plays /usr/bin/security -i over an in-memory keychain, with
// the interactive prompt the real one prints.
type fakeSecurity struct {
	items    map[string]string // account/service -> value
	commands []string
	broken   string // when set, every command fails with this message
}

func (s *fakeSecurity) run(commands []byte) (stdout, stderr []byte, err error) {
	var out, errb bytes.Buffer
	for _, line := range strings.Split(strings.TrimSuffix(string(commands), "\n"), "\n") {
		s.commands = append(s.commands, line)
		out.WriteString("security> ")
		if s.broken != "" {
			errb.WriteString(s.broken + "\n")
			continue
		}
		f := strings.Fields(line)
		opt := func(name string) (string, bool) {
			for i := 1; i < len(f)-1; i++ {
				if f[i] == name {
					if name == "-w" && strings.HasPrefix(f[0], "find") {
						return "", true
					}
					return f[i+1], true
				}
			}
			return "", false
		}
		if f[len(f)-1] != keychainPath {
			errb.WriteString("security: not the System keychain\n")
			continue
		}
		account, _ := opt("-a")
		service, _ := opt("-s")
		id := account + "/" + service
		switch f[0] {
		case "add-generic-password":
			if _, ok := s.items[id]; ok {
				if _, update := opt("-U"); !update {
					errb.WriteString("security: SecKeychainItemCreateFromContent: The specified item already exists in the keychain.\n")
					continue
				}
			}
			v, _ := opt("-w")
			s.items[id] = v
		case "find-generic-password":
			v, ok := s.items[id]
			if !ok {
				errb.WriteString("security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n")
				continue
			}
			if _, w := opt("-w"); w {
				out.WriteString(v + "\n")
			} else {
				out.WriteString("keychain: \"" + keychainPath + "\"\nclass: \"genp\"\n")
			}
		case "delete-generic-password":
			if _, ok := s.items[id]; !ok {
				errb.WriteString("security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n")
				continue
			}
			delete(s.items, id)
			out.WriteString("password has been deleted.\n")
		}
	}
	out.WriteString("security> ")
	return out.Bytes(), errb.Bytes(), nil
}

func TestKeychainProtector(t *testing.T) {
	sec := &fakeSecurity{items: map[string]string{}}
	p := &keychainProtector{run: sec.run}
	if p.held() {
		t.Fatal("held before save")
	}
	if _, err := p.load(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load before save: %v", err)
	}
	blob := marshalOffline(devA, "k1", testUntil, leaseKey("keychain"))
	defer blob.Destroy()
	if err := p.save(blob.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := p.save(blob.Bytes()); err != nil {
		t.Fatalf("a second save (update): %v", err)
	}
	if !p.held() {
		t.Fatal("not held after save")
	}
	got, err := p.load()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, blob.Bytes()) {
		t.Fatal("loaded another copy than was saved")
	}
	want := "add-generic-password -a offline-lease -s org.casekeep.agent -U -l casekeep-offline-lease -w " +
		keychainMarker + hex.EncodeToString(blob.Bytes()) + " " + keychainPath
	if c := sec.commands[2]; c != want {
		t.Errorf("save ran\n%q, want\n%q", c, want)
	}
	if err := p.remove(); err != nil {
		t.Fatal(err)
	}
	if p.held() {
		t.Fatal("held after remove")
	}
	if err := p.remove(); err != nil {
		t.Fatalf("removing what is not there: %v", err)
	}

	sec.broken = "security: SecKeychainItemCreateFromContent: Write permissions error."
	err = p.save(blob.Bytes())
	if err == nil || !strings.Contains(err.Error(), "Write permissions error") {
		t.Fatalf("save with security failing: %v", err)
	}
	if strings.Contains(err.Error(), keychainMarker) {
		t.Fatalf("the error quotes the copy: %v", err)
	}
	if err := p.remove(); err == nil {
		t.Fatal("remove with security failing succeeded")
	}
}

func TestParseKeychainValue(t *testing.T) {
	for _, out := range []string{
		keychainMarker + "zz\n",
		keychainMarker + "abc\n",
		"no marker here\n",
		keychainMarker + "\n",
	} {
		if _, err := parseKeychainValue([]byte(out)); !errors.Is(err, ErrDamaged) {
			t.Errorf("%q: %v", out, err)
		}
	}
	v, err := parseKeychainValue([]byte("security> " + keychainMarker + "6b6579\nsecurity> "))
	if err != nil || string(v) != "key" {
		t.Fatalf("%q, %v", v, err)
	}
}
