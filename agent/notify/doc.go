// Package notify tells the person at the laptop, with a desktop
// notification, what the agent did with their files (a case file moved from
// Downloads into the vault, a USB drive made read-only). It uses what each
// OS ships: notify-send (libnotify) on Linux, osascript's "display
// notification" on macOS, and a Windows.UI.Notifications toast through
// PowerShell on Windows. A notification reaches the desktop only when the
// agent runs in the user's session (dev mode, or a per-user helper); as a
// system service with no session bus or window station it fails, and the
// person sees the same line in `casekeep status` instead. Notifications are
// rate-limited so a burst (a whole folder quarantined) is one message.
package notify
