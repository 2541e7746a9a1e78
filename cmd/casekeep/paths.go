package main

import (
	"os"
	"path/filepath"
	"runtime"
)

// defaultStateDir is where the agent keeps its state when --state is not
// given: the system-wide folder of each OS, which only root/SYSTEM can use.
func defaultStateDir() string {
	switch runtime.GOOS {
	case "windows":
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "casekeep", "state")
	case "darwin":
		return "/Library/Application Support/casekeep/state"
	}
	return "/var/lib/casekeep"
}
