package emulator

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"
)

// htmlBody is the text of HTML, JavaScript and plain-text bodies, repeated
// as long as the body is.
var htmlBody = []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Welcome</title>
<link rel="stylesheet" href="/static/css/main.8c1f2b.css">
<script defer src="/static/js/main.4f2a9c1e.js"></script>
</head>
<body>
<header class="site-header"><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About</a></nav></header>
<main>
<article class="post">
<h1>Monitoring a small network</h1>
<p>Every device on a home or office network talks: phones check for updates, televisions stream,
laptops sync files and printers announce themselves. A small probe on the router can count all
of it by protocol and by host, and show which device uses the bandwidth.</p>
<p>The probe reads each frame once, decodes its headers without allocating, keeps one entry per
flow and sends a report every few seconds.</p>
<ul><li>DNS names tell which services are used.</li><li>TLS server names survive encryption.</li>
<li>Flow reports give round-trip times and volumes.</li></ul>
</article>
</main>
<footer><p>&copy; 2025 Example Ltd. All rights reserved.</p></footer>
</body>
</html>
`)

// ocspResponse is the DER of a "good" OCSP response (RFC 6960) signed with
// sha256WithRSAEncryption, as ocsp.digicert.com sends: about 470 bytes.
var ocspResponse = func() []byte {
	type certID struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		NameHash      []byte
		IssuerKeyHash []byte
		SerialNumber  *big.Int
	}
	type singleResponse struct {
		CertID     certID
		Good       asn1.Flag `asn1:"tag:0,optional"`
		ThisUpdate time.Time `asn1:"generalized"`
		NextUpdate time.Time `asn1:"generalized,explicit,tag:0,optional"`
	}
	type responseData struct {
		ResponderKeyHash []byte    `asn1:"explicit,tag:2"`
		ProducedAt       time.Time `asn1:"generalized"`
		Responses        []singleResponse
	}
	type basicResponse struct {
		TBSResponseData    responseData
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          asn1.BitString
	}
	type responseBytes struct {
		ResponseType asn1.ObjectIdentifier
		Response     []byte
	}
	type response struct {
		Status   asn1.Enumerated
		Response responseBytes `asn1:"explicit,tag:0,optional"`
	}
	h := func(s string, n int) []byte {
		d := sha256.Sum256([]byte(s))
		out := make([]byte, 0, n)
		for len(out) < n {
			out = append(out, d[:]...)
			d = sha256.Sum256(d[:])
		}
		return out[:n]
	}
	null := asn1.RawValue{Tag: asn1.TagNull}
	t := time.Date(2025, time.January, 6, 8, 0, 0, 0, time.UTC)
	basic, err := asn1.Marshal(basicResponse{
		TBSResponseData: responseData{
			ResponderKeyHash: h("responder", 20),
			ProducedAt:       t,
			Responses: []singleResponse{{
				CertID: certID{
					HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, Parameters: null},
					NameHash:      h("issuer name", 20),
					IssuerKeyHash: h("issuer key", 20),
					SerialNumber:  new(big.Int).SetBytes(h("serial", 16)),
				},
				Good:       true,
				ThisUpdate: t,
				NextUpdate: t.Add(7 * 24 * time.Hour),
			}},
		},
		SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: null},
		Signature:          asn1.BitString{Bytes: h("signature", 256), BitLength: 2048},
	})
	if err != nil {
		panic("emulator: OCSP response: " + err.Error())
	}
	der, err := asn1.Marshal(response{Status: 0, Response: responseBytes{
		ResponseType: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}, Response: basic}})
	if err != nil {
		panic("emulator: OCSP response: " + err.Error())
	}
	return der
}()
