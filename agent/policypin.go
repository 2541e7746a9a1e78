package agent

// The policy's version floor
//
// The escrow recipients the vault seals to come from the signed policy
// saved in the state folder, checked against the policy key pinned at
// enrollment; but any older bundle verifies too, so someone who can write
// the state folder could put back an older policy (with escrow keys since
// retired) and have new files sealed to it. The highest version in force
// is therefore pinned ([policyPinFile], an HMAC under a key derived from
// the device signing key, which only root/SYSTEM can read); a policy older
// than the pin is not run: the vault waits, reporting it, until the server
// gives a policy at least as new.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/casekeep/casekeep/agent/keys"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/wire"
	"github.com/casekeep/casekeep/policy"
)

// policyPinFile is the name, in the state folder, of the pin of the
// highest policy version in force.
const policyPinFile = "policy.pin"

const policyPinMagic = "casekeep policy pin v1\n"

func (a *Agent) policyPinMAC(version int) string {
	key := keys.PinKeyFrom(a.cfg.SigningKey)
	defer clear(key)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(policyPinMagic + a.cfg.Enrollment.DeviceID + "\x00" + strconv.Itoa(version)))
	return hex.EncodeToString(m.Sum(nil))
}

// pinnedPolicy returns the policy version pinned (0 if none, or if the pin
// does not authenticate: it is written again).
func (a *Agent) pinnedPolicy() int {
	b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, policyPinFile))
	if err != nil || len(b) > 1024 {
		return 0
	}
	rest, ok := strings.CutPrefix(string(b), policyPinMagic)
	if !ok {
		return 0
	}
	var v int
	var mac string
	if _, err := fmt.Sscanf(rest, "version %d\nmac %s\n", &v, &mac); err != nil || v < 0 {
		return 0
	}
	if !hmac.Equal([]byte(mac), []byte(a.policyPinMAC(v))) {
		a.log.Warn("the policy pin does not authenticate: pinning the policy in force again")
		return 0
	}
	return v
}

// pinPolicy pins p's version, if it is higher than the pin.
func (a *Agent) pinPolicy(p *policy.Policy, pinned int) {
	if p.Version <= pinned && pinned > 0 {
		return
	}
	data := fmt.Sprintf("%sversion %d\nmac %s\n", policyPinMagic, p.Version, a.policyPinMAC(p.Version))
	if err := atomicfile.WriteFile(filepath.Join(a.cfg.StateDir, policyPinFile), []byte(data), 0o600); err != nil {
		a.log.Warn("could not pin the policy version", "err", err)
	}
}

// policyRolledBack reports, once, that the policy saved is older than the
// one pinned.
func (a *Agent) policyRolledBack(p *policy.Policy, pinned int) {
	detail := fmt.Sprintf("the policy in the state folder is version %d, older than version %d in force before (put back by someone?): the vault does not run under it, waiting for the server's policy", p.Version, pinned)
	a.log.Error("refused an older policy than the one in force before", "version", p.Version, "pinned", pinned)
	a.event(wire.Event{Time: time.Now().UTC(), Type: wire.EventPolicyRolledBack, Detail: wire.Clean(detail, wire.MaxString)})
	a.notable()
	a.statusChanged()
}
