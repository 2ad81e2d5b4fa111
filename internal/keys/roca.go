package keys

import (
	"math/big"
	"sync"
)

// ROCA (CVE-2017-15361, Nemec et al., "The Return of Coppersmith's
// Attack", CCS 2017): RSA keys made by an Infineon library whose primes
// have the form p = k*M + (65537^a mod M), M a primorial. Their private
// keys can be computed from the modulus. The structure leaves a
// fingerprint: for every small prime r dividing M, N mod r lies in the
// subgroup of (Z/rZ)* that 65537 generates, which a random N does only
// with probability ord_r(65537)/(r-1).
//
// M is the product of the primes up to at least 167 for every key size
// the library made, so the test checks the primes r <= 167 for which
// 65537 does not generate all of (Z/rZ)* (17 of them, from 11 to 157):
// a modulus that is not ROCA-made passes all 17 with probability about
// 2^-27.8, so an honest key is refused about once in 240 million.

// rocaBound is the largest prime checked.
const rocaBound = 167

type rocaPrime struct {
	r     uint64
	inSub []bool // inSub[x]: x is a power of 65537 mod r
}

var rocaPrimes = sync.OnceValue(func() []rocaPrime {
	var out []rocaPrime
	for r := uint64(3); r <= rocaBound; r += 2 {
		if !big.NewInt(int64(r)).ProbablyPrime(0) {
			continue
		}
		in := make([]bool, r)
		g, x, order := 65537%r, uint64(1), uint64(0)
		for {
			in[x] = true
			order++
			x = x * g % r
			if x == 1 {
				break
			}
		}
		if order < r-1 { // 65537 generates a proper subgroup: a test
			out = append(out, rocaPrime{r, in})
		}
	}
	return out
})

// IsROCA reports whether n has the fingerprint of a ROCA-weak modulus.
func IsROCA(n *big.Int) bool {
	var m big.Int
	for _, p := range rocaPrimes() {
		if !p.inSub[m.Mod(n, new(big.Int).SetUint64(p.r)).Uint64()] {
			return false
		}
	}
	return true
}
