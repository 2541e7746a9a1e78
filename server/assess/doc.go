// Package assess answers the data protection officer's question after a
// laptop is lost: what was on it, was it encrypted, was the key safe, and
// when was it last heard from. An Assessment gathers, for one device and a
// time of loss, the evidence the server holds (the last heartbeat before
// and the first after the loss, the vault's state then, the case
// references and file counts it held, disk encryption, storage and sweep
// events in the 30 days before, gaps in the heartbeat chain, the lease
// log around the loss (the last lease served before it, until when the
// laptop's offline copy could open the vault and how the device said it
// held that copy, every lease served or refused after it, and whether the
// server's copy of the lease key was destroyed), the locks and wipes
// requested (delivered, acknowledged, failed), lost reports and decisions,
// and the 72-hour deadline counted from discovery) and states in plain
// words what that evidence supports. It is
// a statement of evidence, never legal advice. It renders as JSON, CSV and
// a printable HTML page.
package assess
