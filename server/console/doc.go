// Package console is the web console for IT security and the data
// protection officer, served under /console/ on the server's TLS port.
//
// Pages are rendered on the server with html/template from embedded
// templates: no JavaScript, no front-end build, readable and printable.
// A person signs in by pasting their API token; the console keeps in an
// HttpOnly, Secure, SameSite=Strict cookie only the token's SHA-256, an
// expiry (8 hours) and an HMAC over both, and looks the token up on every
// request, so a revoked token stops working at once. Every form that
// changes something carries a CSRF token bound to the cookie, and a POST
// from another origin is refused. Roles decide what a person sees and may
// do (see access.Allows): an auditor reads, a DPO also runs assessments
// and records notification decisions, IT security also marks devices lost
// and found, locks, unlocks and wipes them and cancels a command before it
// is delivered. A device's page shows its lease log (the newest entries)
// and each command as requested, delivered, done or failed with the
// agent's reason, never done without the agent's acknowledgement. The forms' actions are package actions', which
// checks them and writes each, and each assessment viewed, to the audit
// log; a refused form is shown again with the reason.
//
// Everything a device reports (hostnames, user names, event details, case
// references) is untrusted text and is only ever escaped, never trusted
// as HTML; the Content-Security-Policy allows no script at all.
package console
