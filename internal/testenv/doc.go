// Package testenv decides what a test does when something it needs from the
// machine is missing (root, the stock age command, PostgreSQL, Chromium): on a
// developer's machine it skips with a message that says what to install; under
// CI=true it fails, because CI installs everything and must run every test.
package testenv
