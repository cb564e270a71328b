package ghapp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// ParsePrivateKey parses a GitHub App private key in PEM form, PKCS#1
// ("RSA PRIVATE KEY", what GitHub hands out) or PKCS#8 ("PRIVATE KEY").
// Errors match ErrBadPrivateKey (errors.Is), say in one line what is wrong
// and what to do, and never quote the key. Their text does not repeat
// "invalid GitHub App private key": callers prefix where the key came from.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		trimmed := bytes.TrimSpace(pemBytes)
		switch {
		case len(trimmed) == 0:
			return nil, keyErrorf("empty; expected the PEM private key GitHub generated for the App")
		case trimmed[0] == 0x30:
			// ASN.1 SEQUENCE: the key in binary DER form.
			return nil, keyErrorf("binary DER data, not PEM; convert it with: openssl pkey -inform DER -in KEY.der -out key.pem")
		case bytes.Contains(pemBytes, []byte("-----BEGIN")) && bytes.Count(trimmed, []byte("\n")) > 0:
			return nil, keyErrorf("a PEM block that does not decode (damaged or truncated); download a new key from the App's settings")
		case bytes.Contains(pemBytes, []byte("-----BEGIN")):
			return nil, keyErrorf("PEM whose line breaks were lost (the key is on one line); keep the file's newlines, or write each one as \\n in a one-line value")
		}
		return nil, keyErrorf("not a PEM private key; expected the .pem file GitHub generated for the App (-----BEGIN RSA PRIVATE KEY-----)")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, keyErrorf("the RSA PRIVATE KEY block is damaged (its PKCS#1 data does not parse); download a new key from the App's settings")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, keyErrorf("the PRIVATE KEY block is damaged (its PKCS#8 data does not parse); download a new key from the App's settings")
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return nil, keyErrorf("an Ed25519 key; GitHub App private keys are RSA (generate one in the App's settings)")
		case *ecdsa.PrivateKey:
			return nil, keyErrorf("an ECDSA key; GitHub App private keys are RSA (generate one in the App's settings)")
		default:
			return nil, keyErrorf("a %T key; GitHub App private keys are RSA (generate one in the App's settings)", k)
		}
	case "OPENSSH PRIVATE KEY":
		return nil, keyErrorf("an OpenSSH key, not a GitHub App private key (generate one in the App's settings)")
	case "ENCRYPTED PRIVATE KEY":
		return nil, keyErrorf("an encrypted (passphrase-protected) key; GitHub App keys are used unencrypted: openssl pkey -in KEY -out key.pem")
	case "EC PRIVATE KEY":
		return nil, keyErrorf("an ECDSA key; GitHub App private keys are RSA (generate one in the App's settings)")
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, keyErrorf("a %s, not the private key; use the .pem file GitHub generated for the App", strings.ToLower(block.Type))
	default:
		return nil, keyErrorf("a PEM block of type %q, not a private key; expected -----BEGIN RSA PRIVATE KEY-----", block.Type)
	}
}

// keyError is a private key problem. Its text is the problem alone; it
// matches ErrBadPrivateKey.
type keyError struct{ msg string }

func keyErrorf(format string, args ...any) error {
	return &keyError{msg: fmt.Sprintf(format, args...)}
}

// Error returns the message (it implements error).
func (e *keyError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrBadPrivateKey) true.
func (e *keyError) Is(target error) bool { return target == ErrBadPrivateKey }
