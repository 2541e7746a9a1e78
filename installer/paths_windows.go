package installer

import (
	"os"
	"path/filepath"
)

func defaultLayout() Layout {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	pf := os.Getenv("ProgramFiles")
	if pf == "" {
		pf = `C:\Program Files`
	}
	return Layout{
		Program: filepath.Join(pf, "casekeep", "casekeep.exe"),
		Config:  filepath.Join(pd, "casekeep", "config"),
		State:   filepath.Join(pd, "casekeep", "state"),
	}
}
