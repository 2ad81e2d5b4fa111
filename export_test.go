package jwtledger

// Tuning bounds the external tests measure against.
const (
	RevocationRefresh = revocationRefresh
	RevocationMaxAge  = revocationMaxAge
	KeyRefresh        = keyRefresh
)
