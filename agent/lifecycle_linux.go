package agent

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// systemStopping reports whether systemd is shutting the computer down.
func systemStopping() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "systemctl", "is-system-running").Output()
	return strings.TrimSpace(string(out)) == "stopping"
}
