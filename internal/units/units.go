package units

import "fmt"

// Bytes writes n bytes for people: below 1 KiB exactly ("512 B"), above
// it with one decimal in the largest binary unit that fits ("1.5 KiB",
// "3.0 GiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
