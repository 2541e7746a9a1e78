// Package api is casekeep-server's JSON API for people, under /api/v1/:
// the fleet (devices with their latest state and what their agents said
// about stopping, filtered by liveness, compliance, plaintext, policy
// version, user and agent state), one device with its
// timeline and case references, the audit log, and the actions IT security
// and the data protection officer take (mark a device lost, request a
// wipe, record a notification decision, make API tokens). Every request is
// authorised by role through package access; the actions, their checks
// and their audit entries are package actions', and input they refuse is
// answered 400 with the reason. Lists answer as JSON, or as CSV with
// ?format=csv.
package api
