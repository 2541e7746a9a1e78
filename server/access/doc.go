// Package access decides who may use casekeep-server's API and console.
// People hold API tokens ("ckapi1." and 43 base64url characters): only the
// SHA-256 of a token is stored, so a copy of the database gives no access,
// and a token is shown once, when it is made. Every request names its
// token as a bearer token; a missing, unknown or revoked token is refused
// with 401, and a role that may not do what is asked with 403. The roles
// are it-security (everything), dpo (read, reports, notification
// decisions) and auditor (read only). What a person then does, and its
// entry in the audit log, is package actions'.
package access
