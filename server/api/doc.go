// Package api is casekeep-server's JSON API for people, under /api/v1/:
// the fleet (devices with their latest state and what their agents said
// about stopping, filtered by liveness, compliance, plaintext, policy
// version, user and agent state, with each vault key's state and lease
// expiry), one device with its timeline, case references, lease log
// (every lease served or refused) and commands (each lock, unlock and wipe
// as requested, delivered, done or failed), the audit log, and the actions
// IT security and the data protection officer take (mark a device lost or
// found, lock, unlock or wipe it, cancel a command not yet delivered,
// rotate its lease key, record a notification decision, make API tokens). Every request is
// authorised by role through package access; the actions, their checks
// and their audit entries are package actions', and input they refuse is
// answered 400 with the reason. Lists answer as JSON, or as CSV with
// ?format=csv.
package api
