package main

// A container image built FROM scratch has no CA certificates and no zone
// database, so the binary carries both: fallback roots are used only when
// the system offers none, and tzdata only when the system has no zoneinfo.
import (
	_ "time/tzdata"

	_ "golang.org/x/crypto/x509roots/fallback"
)
