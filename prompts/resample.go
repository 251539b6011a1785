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
// through a Kaiser-windowed sinc low-pass filter evaluated at each output
// instant, so any ratio works (44.1 kHz as well as 48 kHz). Equal rates
// return a copy.
func Resample(in []float32, from, to int) []float32 {
	if from == to {
		return append([]float32(nil), in...)
	}
	table := kernelTable(cutoffRatio)
	step := float64(from) / float64(to) // input samples per output sample
	half := halfWidth * step            // kernel half-width in input samples
	n := int(int64(len(in)) * int64(to) / int64(from))
	out := make([]float32, n)
	for i := range out {
		center := float64(i) * step
		lo := max(0, int(math.Ceil(center-half)))
		hi := min(len(in)-1, int(math.Floor(center+half)))
		var acc, wsum float64
		for k := lo; k <= hi; k++ {
			u := (float64(k) - center) / step // distance in output periods
			w := lookup(table, u)
			acc += w * float64(in[k])
			wsum += w
		}
		if wsum != 0 {
			acc /= wsum
		}
		out[i] = float32(acc)
	}
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

// resampler is Resample over a stream: the input arrives in blocks, each
// output sample goes to emit as soon as the input it needs is there, and
// only the filter's window of input is kept. Its output is Resample's,
// sample for sample.
type resampler struct {
	from, to   int
	table      []float64
	step, half float64
	inLen      int       // input samples in all, known from the file's header
	outLen     int       // output samples in all
	buf        []float32 // input from index base on
	base       int
	total      int // input samples written
	next       int // next output sample
	emit       func(float32)
}

// newResampler converts inLen samples from rate from to rate to (to ≤
// from), passing each output sample to emit in order.
func newResampler(from, to, inLen int, emit func(float32)) *resampler {
	r := &resampler{from: from, to: to, inLen: inLen, emit: emit,
		outLen: int(int64(inLen) * int64(to) / int64(from))}
	if from != to {
		r.table = kernelTable(cutoffRatio)
		r.step = float64(from) / float64(to)
		r.half = halfWidth * r.step
	}
	return r
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
		center := float64(r.next) * r.step
		lo := max(0, int(math.Ceil(center-r.half)))
		hi := min(r.inLen-1, int(math.Floor(center+r.half)))
		if hi >= r.total {
			break // its input is still to come
		}
		var acc, wsum float64
		for k := lo; k <= hi; k++ {
			u := (float64(k) - center) / r.step
			w := lookup(r.table, u)
			acc += w * float64(r.buf[k-r.base])
			wsum += w
		}
		if wsum != 0 {
			acc /= wsum
		}
		r.emit(float32(acc))
		r.next++
	}
	// Drop the input no later output needs.
	lo := max(0, int(math.Ceil(float64(r.next)*r.step-r.half)))
	if drop := min(lo-r.base, len(r.buf)); drop > 0 {
		r.buf = r.buf[:copy(r.buf, r.buf[drop:])]
		r.base += drop
	}
}
