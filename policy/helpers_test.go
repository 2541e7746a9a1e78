package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casekeep/casekeep/policy"
)

// Recipients whose private halves are not kept: the tests only parse them.
const (
	classicA = "age17dsrngheqe3tyegazj5q0h0lr3dlasl37d9prrjwx83r2ewtlf2s2rjl20"
	classicB = "age162kncy883f4tzgy7dkry9agu2rfez98fwsdurhvrflswujxuwqrqpqfm7u"
	hybridA  = "age1pq1e8z8m9t9jsq4kqn479rzhpugm0qsul5eykyzwc8vzdhxfewpurwxrts2hjrd9nv05737hckpjz49h2n85lmxhfpyvpmwgft6wvtrhe4mgkshddfq5ujvdmq6nkcjnc5qsctkxcc5vaw7zcadkswrmhs6c97mxwjdxwnugfm7rfqxuw7q9hl7d2z0cqrkpspwt9fzhh9ve77h5l7j4yyux2y9yuprndaqw0wmtq2h0s48nf6526fy2vlx39x7q5znsdcxtzdw68n2g0ty3sx9ssrf4vsdquuxns9yj9vjc5ru2hg4gs6ae6zyat55w655t9dm8ypsc6y9tcy6jxjqz2utvzdpgcd0fdja63tqd94yaxcv2r9en943juht8u5tvfpha026xpffcz256pk4uf9ptrkvezrgf6s48svevamtwssf2wdqzec65cadsxh86226432en0kq8za5g6ct2ldt2kr5x99ymantn6lyr0sk588zcfdjj32pw52zj0mrqumkjz6qdrqlccuwz5eqq6250qtrcvhqlp44gqczdk923tdgxtpnpgmmkkv3fzjjrr5j9e35dcs34dqryvjsyz5ap298ywgmcz6p596y8g7pv3qrrfwgpt7cwmhjh23rq7zcj9nzytqj5rhthk52cc87vnrqey2zt9vx7llxz7wadssfx3jzqya6g29j6p4k3e3dh3m8q7z2g0ztm03pg5h6r8lu38ca7tz76d39jrf9p6nf9fvhcmpv7p5pyze0yvv5qcugdft70pyrgf2fkstzqc5zll5segqzmxwvmdpdnxqzdnp2jrp28edzcjvmcsj6r8qffy2s3fcnn0a8e9gyyvep28y5687y3p3ux7xwslm22ca7ugdt84v4jwftqwgywws2qxrwl74h2r5prppeev02vfjz3ja0c6uygysjz4p3zxdtv8up2zs56tyu2hs3628jxa5p4ws67vu7djpamjs96lkp8uxyxc30k45g4fvqr5f2qq0cpt4r3wx4nzp9dg3mp0fq0cjgw855svul5qk8k3uhssg3cjjqz28wymmrgzzuu74lg6sp3l7tr9dk8gpk2q4j7kgwqmmgczr5qfpk5rzk6ju53jzf39wvm23xhwdn5nfjwzg4lud9egtt73mted8ts0k02epmtkzjr4r4t28up4cqgwt9uxpvscj76pmka6spwnwkqrfwdz3md2mxk733ktzg9jysy67dcanhtxvl9cwp435ud9zksex739vzgxrz6ym2kcgqwdphjtmykd9z0xmjlwen9sh5x8432vprqv0cfusep8rm7hanxl6eq2v7pr9dhf3xw5t5pxe856hpnscpw6pwwn9k629x9dc8ex4jxlc2j5x0hrrs5kj2q6d3y3k528wewy4mspgn33yfdlyfvwgsgg54ku7jkz69phe5qrv8fpkj0durukk3q65jggpzj7f9t6492mhtr292va59s6mg6r8nkd68sx3ukvcdsqpgunzysdtxxc9jdxdmckqr5gaekvetmpa5xnj5svhg6rxe77692qzntmyqhqvcqmvpe22c6jczrtefsmj4ngyn8tp692guuxsyu45qkwa9cel5k2w3k4ywkz2fqkne0lp4xwvuxuvhq9zft3xvl73g6syh2x6kywdwxwy9kkz074arcctkvlm8glzpcpgxq7da955fcs4qye8nrx2jc6px2eaql42x77r4rtffvt5cgafc4xeafye3z26udzn89w9ucw0k6qg5p2w2c8jed7vkcygscaj29zeau93jfugc5p5gqld2wprhvgtkzg62uz7jqlhhcvfnawj6u2u27anhzwd55wn4rxmv7hq3kal3y0l4zedj920nvgp46hq98889gj53axxsxxfu70e8h4xl0z5nk5czxvqtqh0vkcg88wact9fud5l7rk4t"
)

// validYAML is a small valid policy; tests replace parts of it.
var validYAML = `version: 4
name: Test policy
issued_at: 2026-11-22T09:00:00Z
vault:
  cache_paths:
    linux: ~/.cache/casekeep
    windows: '%LOCALAPPDATA%\casekeep'
  escrow_recipients:
    - ` + classicA + `
heartbeat:
  interval: 5m
`

func mustParse(t testing.TB, src string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\nsource:\n%s", err, src)
	}
	return p
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withVersion returns validYAML with another version number.
func withVersion(v string) string {
	return strings.Replace(validYAML, "version: 4", "version: "+v, 1)
}
