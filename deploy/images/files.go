package images

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// CABundlePath is where Go's crypto/x509 (and most other TLS stacks) look
// for the system's trusted roots on Linux.
const CABundlePath = "etc/ssl/certs/ca-certificates.crt"

// file is one entry of a layer: a directory when name ends in "/".
type file struct {
	name     string // relative to /, no leading slash
	mode     int64
	uid, gid int
	data     []byte
}

// baseFiles is the root filesystem every image shares: a root and a
// nonroot user without a login shell, the CA bundle, and the usual /tmp.
func baseFiles(caPEM []byte) []file {
	u := NonRootUID
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", u, u)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", u)
	return []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		// Go's resolver reads it to order /etc/hosts before DNS.
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: CABundlePath, mode: 0o644, data: caPEM},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: u, gid: u},
		{name: "root/", mode: 0o700},
		{name: "tmp/", mode: 0o1777},
	}
}

// writeTar writes files as a tar stream, every entry stamped with mtime so
// the same inputs always give the same layer digest.
func writeTar(w io.Writer, mtime time.Time, files []file) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("tar %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	return nil
}

// caBundle renders the Mozilla NSS roots that golang.org/x/crypto's fallback
// bundle embeds as one PEM file, so the image does not depend on the build
// machine's certificates. Roots that carry a constraint (a distrust-after
// date, which a PEM file cannot express) are left out: trusting them
// unconditionally would accept certificates NSS no longer does.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, fmt.Errorf("encode CA certificate: %w", err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("the CA bundle is empty")
	}
	return buf.Bytes(), nil
}
