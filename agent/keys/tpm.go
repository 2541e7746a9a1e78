package keys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/casekeep/casekeep/internal/wire"
)

// The offline copy sealed to the TPM 2.0. The TPM makes its storage
// primary key again each time from the TCG's ECC P-256 SRK template under
// the owner hierarchy (the same template gives the same key on the same
// TPM, from a seed that never leaves it), and seals the copy as a
// keyed-hash sealed-data object under it: fixed to this TPM and this
// parent, no password, exempt from dictionary-attack lockout. The file
// keeps only the object's public part and its private part, which the
// TPM encrypted with the primary key: on another computer, or after the
// TPM is cleared, it does not load. The commands that carry the copy in
// and out use a session salted to the primary key with AES parameter
// encryption, so the copy does not cross the bus in clear.
//
// What it does not do: bind to PCRs (a firmware update would then strand
// every copy), or stop the same computer's TPM from unsealing a deleted
// copy recovered from the disk. The copy's own expiry is checked by the
// agent, not the TPM.

// tpmOpener opens a connection to the TPM. The protector opens one per
// operation and closes it: the TPM is shared with the rest of the system.
type tpmOpener func() (transport.TPMCloser, error)

// newTPMProtector keeps the sealed object in device-lease.tpm in dir.
func newTPMProtector(dir string, open tpmOpener) *fileProtector {
	with := func(f func(t transport.TPM) ([]byte, error)) ([]byte, error) {
		t, err := open()
		if err != nil {
			return nil, fmt.Errorf("opening the TPM: %w", err)
		}
		defer t.Close()
		return f(t)
	}
	return &fileProtector{
		path: filepath.Join(dir, offlinePrefix+"tpm"),
		k:    wire.OfflineTPM,
		seal: func(blob []byte) ([]byte, error) {
			return with(func(t transport.TPM) ([]byte, error) { return tpmSeal(t, blob) })
		},
		unseal: func(data []byte) ([]byte, error) {
			return with(func(t transport.TPM) ([]byte, error) { return tpmUnseal(t, data) })
		},
	}
}

// sealedTemplate is the public template of the sealed-data object.
var sealedTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgKeyedHash,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM:     true,
		FixedParent:  true,
		UserWithAuth: true,
		NoDA:         true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
		Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
	}),
}

// srk is the storage primary key, loaded in the TPM until flushed.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public tpm2.TPMTPublic
}

func createSRK(t transport.TPM) (*srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("creating the TPM's storage key: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(t, rsp.ObjectHandle)
		return nil, err
	}
	return &srk{handle: rsp.ObjectHandle, name: rsp.Name, public: *pub}, nil
}

// salted returns an HMAC session salted to the storage key, encrypting
// the command's first parameter (enc) or the response's.
func (s *srk) salted(enc bool) tpm2.Session {
	d := tpm2.EncryptOut
	if enc {
		d = tpm2.EncryptIn
	}
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, d), tpm2.Salted(s.handle, s.public))
}

func flush(t transport.TPM, h tpm2.TPMHandle) {
	tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// tpmSeal seals blob to the TPM and returns the object to keep.
func tpmSeal(t transport.TPM, blob []byte) ([]byte, error) {
	s, err := createSRK(t)
	if err != nil {
		return nil, err
	}
	defer flush(t, s.handle)
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: s.salted(true)},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: blob}),
		}},
		InPublic: tpm2.New2B(sealedTemplate),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("sealing to the TPM: %w", err)
	}
	return marshalTPMObject(tpm2.Marshal(rsp.OutPublic), tpm2.Marshal(rsp.OutPrivate)), nil
}

// tpmUnseal loads a sealed object under the storage key and unseals it.
func tpmUnseal(t transport.TPM, data []byte) ([]byte, error) {
	pubBytes, privBytes, err := parseTPMObject(data)
	if err != nil {
		return nil, err
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](pubBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: the sealed object's public part: %v", ErrDamaged, err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](privBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: the sealed object's private part: %v", ErrDamaged, err)
	}
	s, err := createSRK(t)
	if err != nil {
		return nil, err
	}
	defer flush(t, s.handle)
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    *priv,
		InPublic:     *pub,
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("%w: the TPM does not load the sealed copy (another TPM's, or altered): %v", ErrDamaged, err)
	}
	defer flush(t, loaded.ObjectHandle)
	rsp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: s.salted(false)},
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("unsealing from the TPM: %w", err)
	}
	return rsp.OutData.Buffer, nil
}

// The file of a TPM-sealed copy:
//
//	"cktpm001" | u16 length | TPM2B_PUBLIC | u16 length | TPM2B_PRIVATE
const tpmMagic = "cktpm001"

func marshalTPMObject(pub, priv []byte) []byte {
	b := []byte(tpmMagic)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pub)))
	b = append(b, pub...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(priv)))
	return append(b, priv...)
}

func parseTPMObject(b []byte) (pub, priv []byte, err error) {
	bad := errors.New("not a casekeep TPM-sealed copy (v1)")
	if len(b) < len(tpmMagic) || string(b[:len(tpmMagic)]) != tpmMagic {
		return nil, nil, fmt.Errorf("%w: %v", ErrDamaged, bad)
	}
	b = b[len(tpmMagic):]
	part := func() ([]byte, bool) {
		if len(b) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b))
		if n == 0 || len(b) < 2+n {
			return nil, false
		}
		p := b[2 : 2+n]
		b = b[2+n:]
		return p, true
	}
	pub, ok1 := part()
	priv, ok2 := part()
	if !ok1 || !ok2 || len(b) != 0 {
		return nil, nil, fmt.Errorf("%w: %v", ErrDamaged, bad)
	}
	return pub, priv, nil
}
