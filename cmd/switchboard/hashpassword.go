package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/switchboard-voip/switchboard/sip/digest"
)

// hashPassword is `switchboard hash-password -user EXT [-realm R | -config FILE]`: it reads a
// password from the first line of stdin (so it stays out of the shell's history and the
// process list) and prints the two lines a user's entry takes instead of `password:`.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "the extension the password is for (required)")
	realm := fs.String("realm", "", "sip.realm (default: the -config file's, else \"switchboard\")")
	cfgPath := fs.String("config", "", "read sip.realm from this config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: switchboard hash-password -user EXT [-realm REALM | -config FILE] < password")
		return 2
	}
	if *realm == "" {
		*realm = "switchboard"
		if *cfgPath != "" {
			cfg, err := loadConfig(*cfgPath)
			if err != nil {
				// A config still being fixed (a hash missing) is refused whole: -realm gets the
				// hashes without it.
				fmt.Fprintf(stderr, "%v\n(give -realm to hash without reading the config)\n", err)
				return 2
			}
			*realm = cfg.SIP.Realm
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "reading the password:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "no password on stdin")
		return 2
	}
	fmt.Fprintf(stdout, "ha1_md5: %s\nha1_sha256: %s\n",
		digest.HA1(false, *user, *realm, password), digest.HA1(true, *user, *realm, password))
	return 0
}
