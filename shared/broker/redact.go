package broker

import (
	"net/url"
	"strings"
)

// RedactURLs returns a NATS_URL value (comma-separated server URLs) fit for
// a log line: the password, or a token given as the user part, of each URL
// is replaced by "xxxxx" (as nats.go's ConnectedUrlRedacted does), since
// production URLs may carry credentials. An entry that does not parse as a
// URL is replaced whole when it contains "@", so nothing secret slips through.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil || u.Host == "":
			if strings.Contains(p, "@") {
				p = "xxxxx"
			}
		case u.User != nil:
			if _, hasPassword := u.User.Password(); hasPassword {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx") // a lone user part is a token
			}
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
