// Package policy holds rolegate's decision logic: which ApprovalPolicy
// governs a request, whether the request passes it, which approver tier
// decides, which decisions count, and when access ends.
//
// Everything here is pure: no client, no clock, no I/O. The controller, the
// admission webhooks and the CLI call the same functions, so a request the
// CLI accepts is one admission accepts and one the controller grants.
package policy
