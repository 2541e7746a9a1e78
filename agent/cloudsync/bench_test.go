package cloudsync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/casekeep/casekeep/agent/cloudsync"
)

// BenchmarkFind measures one Find over 20 homes, each with 1,000 other
// entries at its top, a Dropbox config and folders for every provider, by
// the macOS rules (which look in the most places) and by Windows' with a
// registry.
func BenchmarkFind(b *testing.B) {
	base := b.TempDir()
	var homes []string
	reg := newReg()
	for i := range 20 {
		h := filepath.Join(base, fmt.Sprintf("user%02d", i))
		homes = append(homes, h)
		for j := range 1000 {
			mkdirs(b, h, fmt.Sprintf("folder %04d", j))
		}
		mkdirs(b, h, "Dropbox", "OneDrive", "OneDrive - Kent County Council", "Box", "iCloudDrive",
			"Library/CloudStorage/OneDrive-Personal", "Library/CloudStorage/GoogleDrive-x@kent.gov.uk",
			"Library/Mobile Documents/com~apple~CloudDocs", "AppData/Local/Google/DriveFS/1234567890")
		write(b, h, ".dropbox/info.json", `{"personal": {"path": `+jsonString(filepath.Join(h, "Dropbox"))+`}}`)
		reg.profile(sid(i), h).set(`HKU\`+sid(i)+`\Software\Microsoft\OneDrive\Accounts\Business1`,
			"UserFolder", filepath.Join(h, "OneDrive - Kent County Council"), "UserEmail", "x@kent.gov.uk")
	}
	for _, goos := range []string{"darwin", "windows", "linux"} {
		b.Run(goos, func(b *testing.B) {
			opts := cloudsync.Options{Homes: homes, GOOS: goos, Registry: reg}
			n := 0
			for b.Loop() {
				got, err := cloudsync.Find(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				n = len(got)
			}
			b.ReportMetric(float64(n), "folders")
		})
	}
}
