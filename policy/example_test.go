package policy_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/casekeep/casekeep/policy"
)

func ExampleParse() {
	src, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		log.Fatal(err)
	}
	p, err := policy.Parse(src)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Version, p.Storage.RemovableMedia.Action, p.Heartbeat.Interval)
	fmt.Println(p.Vault.CaseRef("LL-123456/chronology.docx"))
	// Output:
	// 1 block 5m0s
	// LL-123456
}

func ExampleParse_problems() {
	_, err := policy.Parse([]byte("version: 2\nname: Broken\nissued_at: 2026-11-22T09:00:00Z\nvault:\n  cache_paths: {linux: cache}\n  escrow_recipients: []\n"))
	var invalid *policy.InvalidError
	if errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			fmt.Println(p.Line, p.Path)
		}
	}
	// Output:
	// 5 vault.cache_paths.linux
	// 6 vault.escrow_recipients
}

func ExampleVerify() {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	src, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		log.Fatal(err)
	}
	p, err := policy.Parse(src)
	if err != nil {
		log.Fatal(err)
	}
	bundle, err := policy.Sign(p, priv)
	if err != nil {
		log.Fatal(err)
	}

	// An agent with version 1 in force refuses the same bundle again.
	_, err = policy.Verify(bundle, pub, 1)
	fmt.Println(errors.Is(err, policy.ErrRollback))

	// A new agent takes it.
	got, err := policy.Verify(bundle, pub, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Version, got.Hash() == p.Hash())
	// Output:
	// true
	// 1 true
}
