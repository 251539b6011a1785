package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/probe"
	"github.com/phonediversions/phonediversions/prompts"
)

// errCallFailed is a probe call that did not go through: it was printed,
// and the exit status says so.
var errCallFailed = errors.New("the call did not go through")

// runProbe is `phonediversions probe [flags] sip:NUMBER@HOST[:PORT]`: one
// call, as a caller would place it, and what happened in a person's
// words (or JSON). Errors: errCallFailed when the call was refused,
// unanswered or silent; errHelp after --help.
func runProbe(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: phonediversions probe [flags] sip:NUMBER@HOST[:PORT]")
		fmt.Fprintln(out, "Places one call and tells what the caller heard: the product's path, the announcement,")
		fmt.Fprintln(out, "the far party, RTP both ways. Exit status 1 when the call did not go through.")
		fs.PrintDefaults()
	}
	var cfg probe.Config
	var localIP, record string
	var asJSON bool
	fs.StringVar(&cfg.From, "from", "probe", "calling number")
	fs.StringVar(&cfg.DivertedFrom, "diverted-from", "", "mark the call as diverted from this line (a Diversion header), as the PBX does; for calling the product directly at a group's destination")
	fs.StringVar(&cfg.Transport, "transport", "udp", "udp, tcp or tls")
	var tlsCA string
	var tlsInsecure bool
	fs.StringVar(&tlsCA, "tls-ca", "", "PEM file of the certificates that sign the target's TLS certificate (default: the system's)")
	fs.BoolVar(&tlsInsecure, "tls-insecure", false, "do not check the target's TLS certificate")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "longest the probe waits for an answer and then stays on the call")
	fs.StringVar(&localIP, "local-ip", "", "address to call from (default: the one routed to the target)")
	fs.StringVar(&record, "record", "", "save what the caller heard to this WAV file (8 kHz, 16-bit)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	// Flags may come before and after the target.
	var targets []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errHelp
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		targets = append(targets, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(targets) != 1 {
		fs.Usage()
		return errors.New("give one target, such as sip:1044@pbx.example.com")
	}
	cfg.Target = targets[0]
	if localIP != "" {
		ip, err := netip.ParseAddr(localIP)
		if err != nil {
			return fmt.Errorf("--local-ip: %q is not an IP address", localIP)
		}
		cfg.LocalIP = ip
	}
	// The few lines the SIP stack writes outside the probe's logger (about
	// its connections) are not the probe's answer.
	sipgosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	if tlsCA != "" || tlsInsecure {
		cfg.TLS = &tls.Config{InsecureSkipVerify: tlsInsecure, MinVersion: tls.VersionTLS12}
		if tlsCA != "" {
			pem, err := os.ReadFile(tlsCA)
			if err != nil {
				return fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.TLS.RootCAs = x509.NewCertPool()
			if !cfg.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--tls-ca: %s holds no PEM certificate", tlsCA)
			}
		}
	}
	res, err := probe.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if record != "" {
		f, err := os.Create(record)
		if err != nil {
			return err
		}
		err = prompts.WriteWAV(f, 8000, res.Heard)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--record: %w", err)
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprint(out, res.Text())
		if record != "" {
			fmt.Fprintf(out, "What the caller heard is in %s.\n", record)
		}
	}
	if !res.OK() {
		return errCallFailed
	}
	return nil
}
