package prompts

import "math"

// Resampler parameters. The low-pass cut-off sits below the output's
// Nyquist frequency so that telephone-band speech (up to 3.4 kHz at 8 kHz)
// passes and what lies above 4 kHz is suppressed before it can alias.
const (
	cutoffRatio   = 0.95 // cut-off as a fraction of the output Nyquist frequency
	halfWidth     = 24   // kernel half-width, in output sample periods
	kaiserBeta    = 7.0  // about 70 dB of stop-band attenuation
	tableStepsPer = 512  // kernel table resolution per output period
)

// Resample converts mono samples from rate from to rate to (to ≤ from)
// through a Kaiser-windowed sinc low-pass filter, so any ratio works
// (44.1 kHz as well as 48 kHz). Equal rates return a copy. It is the
// streaming resampler fed all of in at once.
func Resample(in []float32, from, to int) []float32 {
	out := make([]float32, 0, int(int64(len(in))*int64(to)/int64(from)))
	r := newResampler(from, to, len(in), func(v float32) { out = append(out, v) })
	r.write(in)
	return out
}

// kernelTable samples the windowed sinc over [0, halfWidth] output periods;
// fc is the cut-off as a fraction of the output Nyquist frequency.
func kernelTable(fc float64) []float64 {
	t := make([]float64, halfWidth*tableStepsPer+2)
	i0b := besselI0(kaiserBeta)
	for i := range t {
		u := float64(i) / tableStepsPer
		x := fc * u
		sinc := 1.0
		if x != 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		r := u / halfWidth
		win := 0.0
		if r <= 1 {
			win = besselI0(kaiserBeta*math.Sqrt(1-r*r)) / i0b
		}
		t[i] = sinc * win
	}
	return t
}

func lookup(t []float64, u float64) float64 {
	pos := math.Abs(u) * tableStepsPer
	i := int(pos)
	if i >= len(t)-1 {
		return 0
	}
	frac := pos - float64(i)
	return t[i] + (t[i+1]-t[i])*frac
}

// besselI0 is the modified Bessel function of the first kind, order 0.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// resampler converts a stream of mono samples: the input arrives in
// blocks, each output sample goes to emit as soon as the input it needs is
// there, and only the filter's window of input is kept.
//
// Output sample i is the filter centred on input position i·from/to. With
// from/to reduced to M/L, that position is n + p/L for whole n and a phase
// p < L, and the filter's taps at each phase are the same: they are
// computed once per phase, normalized to unit gain (polyphase). Outputs
// within the filter's half-width of either end take the taps that fall
// inside the input, normalized again.
type resampler struct {
	from, to int
	l, m     int64 // to and from divided by their greatest common divisor
	table    []float64
	step     float64
	half     float64
	phases   []phaseTaps
	inLen    int       // input samples in all, known from the file's header
	outLen   int       // output samples in all
	buf      []float32 // input from index base on
	base     int
	total    int // input samples written
	next     int // next output sample
	emit     func(float32)
}

// phaseTaps are the filter's weights at one phase, for the input samples
// from the centre's whole part plus start on.
type phaseTaps struct {
	start int
	w     []float64
}

// newResampler converts inLen samples from rate from to rate to (to ≤
// from), passing each output sample to emit in order.
func newResampler(from, to, inLen int, emit func(float32)) *resampler {
	r := &resampler{from: from, to: to, inLen: inLen, emit: emit,
		outLen: int(int64(inLen) * int64(to) / int64(from))}
	if from == to {
		return r
	}
	g := int64(gcd(from, to))
	r.l, r.m = int64(to)/g, int64(from)/g
	r.table = kernelTable(cutoffRatio)
	r.step = float64(from) / float64(to)
	r.half = halfWidth * r.step // kernel half-width in input samples
	r.phases = make([]phaseTaps, r.l)
	for p := range r.phases {
		frac := float64(p) / float64(r.l)
		lo, hi := int(math.Ceil(frac-r.half)), int(math.Floor(frac+r.half))
		r.phases[p] = phaseTaps{start: lo, w: r.weights(frac, lo, hi)}
	}
	return r
}

// weights are the taps for input offsets lo to hi from a centre whose
// fractional part is frac, normalized to a sum of 1.
func (r *resampler) weights(frac float64, lo, hi int) []float64 {
	w := make([]float64, hi-lo+1)
	var sum float64
	for k := lo; k <= hi; k++ {
		w[k-lo] = lookup(r.table, (float64(k)-frac)/r.step)
		sum += w[k-lo]
	}
	if sum != 0 {
		for i := range w {
			w[i] /= sum
		}
	}
	return w
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// write takes the next block of input.
func (r *resampler) write(in []float32) {
	r.total += len(in)
	if r.from == r.to {
		for _, v := range in {
			r.emit(v)
		}
		r.next += len(in)
		return
	}
	r.buf = append(r.buf, in...)
	for r.next < r.outLen {
		pos := int64(r.next) * r.m
		n, p := int(pos/r.l), pos%r.l
		ph := r.phases[p]
		lo, hi := n+ph.start, n+ph.start+len(ph.w)-1
		if min(hi, r.inLen-1) >= r.total {
			break // its input is still to come
		}
		w := ph.w
		if lo < 0 || hi > r.inLen-1 {
			// Near an end: the taps inside the input, normalized again.
			clo, chi := max(lo, 0), min(hi, r.inLen-1)
			w = r.weights(float64(p)/float64(r.l)+float64(n-clo), 0, chi-clo)
			lo = clo
		}
		x := r.buf[lo-r.base : lo-r.base+len(w)]
		var acc float64
		for j, v := range x {
			acc += w[j] * float64(v)
		}
		r.emit(float32(acc))
		r.next++
	}
	// Drop the input no later output needs.
	if r.next < r.outLen {
		pos := int64(r.next) * r.m
		lo := int(pos/r.l) + r.phases[pos%r.l].start
		if drop := min(lo-r.base, len(r.buf)); drop > 0 {
			r.buf = r.buf[:copy(r.buf, r.buf[drop:])]
			r.base += drop
		}
	}
}
