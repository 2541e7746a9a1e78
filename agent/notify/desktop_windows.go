package notify

import (
	"context"
	"encoding/base64"
	"unicode/utf16"
)

type desktop struct {
	run func(ctx context.Context, name string, args ...string) error
}

// toastScript shows a toast with the texts in $args, which PowerShell
// receives as data, never as code.
const toastScript = `param($title, $body)
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] | Out-Null
$xml = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02)
$t = $xml.GetElementsByTagName('text')
$t.Item(0).AppendChild($xml.CreateTextNode($title)) | Out-Null
$t.Item(1).AppendChild($xml.CreateTextNode($body)) | Out-Null
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('casekeep').Show([Windows.UI.Notifications.ToastNotification]::new($xml))`

func (d desktop) Notify(ctx context.Context, title, body string) error {
	script := "& {" + toastScript + "} " + quotePS(clean(title, 80)) + " " + quotePS(clean(body, 300))
	return d.run(ctx, "powershell.exe", "-NoProfile", "-NonInteractive", "-EncodedCommand", encodePS(script))
}

// quotePS quotes s as a PowerShell single-quoted string: the only special
// character inside is the quote itself, doubled.
func quotePS(s string) string {
	out := []rune{'\''}
	for _, r := range s {
		if r == '\'' || r == '‘' || r == '’' || r == '‚' || r == '‛' {
			out = append(out, r)
		}
		out = append(out, r)
	}
	return string(append(out, '\''))
}

// encodePS encodes a script for -EncodedCommand (base64 of UTF-16LE).
func encodePS(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}
