//go:build !linux && !darwin && !windows

package installer

func defaultLayout() Layout {
	return Layout{Program: "/usr/local/bin/casekeep", Config: "/usr/local/etc/casekeep", State: "/var/db/casekeep"}
}
