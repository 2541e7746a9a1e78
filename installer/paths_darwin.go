package installer

const macSupport = "/Library/Application Support/casekeep"

func defaultLayout() Layout {
	return Layout{Program: "/usr/local/bin/casekeep", Config: macSupport + "/config", State: macSupport + "/state"}
}
