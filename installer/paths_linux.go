package installer

func defaultLayout() Layout {
	return Layout{Program: "/usr/bin/casekeep", Config: "/etc/casekeep", State: "/var/lib/casekeep"}
}
