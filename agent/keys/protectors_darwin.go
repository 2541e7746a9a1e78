package keys

import (
	"bytes"
	"os/exec"
)

// defaultProtectors on macOS: the System keychain (wire.OfflineOS). Macs
// have no TPM; the Secure Enclave is reachable only through
// Security.framework, which needs CGO.
func defaultProtectors(dir string) []protector {
	return []protector{&keychainProtector{run: runSecurity}}
}

// runSecurity runs /usr/bin/security -i with commands on its standard input.
func runSecurity(commands []byte) (stdout, stderr []byte, err error) {
	var out, errb bytes.Buffer
	cmd := exec.Command("/usr/bin/security", "-i")
	cmd.Stdin = bytes.NewReader(commands)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}
