//go:build !linux

package media

import (
	"errors"
	"net/netip"
)

// Batched sends need io_uring (Linux): elsewhere the pacer sends with a
// system call a packet.

const batchFrom = 1 << 30

type batch struct{ n int }

func newBatch(*Engine) (*batch, error) { return nil, errors.New("media: no io_uring on this system") }

func (b *batch) full() bool                                 { return false }
func (b *batch) room() []byte                               { return nil }
func (b *batch) add(*Leg, []byte, netip.AddrPort, int) bool { return false }
func (b *batch) flush() bool                                { return true }
func (b *batch) close()                                     {}
