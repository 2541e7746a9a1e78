package installer_test

import (
	"testing"

	"github.com/casekeep/casekeep/installer"
)

func TestDefaultLinux(t *testing.T) {
	want := installer.Layout{Program: "/usr/bin/casekeep", Config: "/etc/casekeep", State: "/var/lib/casekeep"}
	if got := installer.Default(); got != want {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	if got := installer.Default().EnrollEnv(); got != "/etc/casekeep/enroll.env" {
		t.Errorf("EnrollEnv() = %q", got)
	}
}
