package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// node is one element of a REST answer. The same tree is written as the
// XML envelope and as JSON, so both carry the same data under the same
// names.
type node struct {
	name string
	// text is the content of a leaf; number marks a leaf written as a JSON
	// number.
	text   string
	number bool
	leaf   bool
	// list marks an element whose children are items of one kind: JSON
	// writes it as an array of their contents.
	list     bool
	children []node
}

func leaf(name, text string) node { return node{name: name, text: text, leaf: true} }

func numLeaf(name string, n int64) node {
	return node{name: name, text: strconv.FormatInt(n, 10), number: true, leaf: true}
}

func elem(name string, children ...node) node { return node{name: name, children: children} }

func list(name string, items []node) node { return node{name: name, list: true, children: items} }

// Answers that are a word instead of data.
const (
	notFoundAnswer = "NOT_FOUND"
	okAnswer       = "OK"
)

// envelope is a whole REST answer: the function's name and either data,
// a word (NOT_FOUND, OK) or an error.
type envelope struct {
	request string
	// data are the children of Response.
	data     []node
	word     string
	errCode  string
	errParam string
	errMsg   string
}

// xmlProlog starts every XML answer.
const xmlProlog = `<?xml version="1.0" encoding="iso-8859-1" ?>` + "\n"

// XML writes the envelope as ISO-8859-1 XML, two spaces per level.
func (e envelope) XML() string {
	var b strings.Builder
	b.Grow(256 + e.size())
	b.WriteString(xmlProlog)
	b.WriteString("<Callisto>\n")
	writeXML(&b, leaf("Request", e.request), 1)
	writeXML(&b, e.response(), 1)
	b.WriteString("</Callisto>\n")
	return b.String()
}

// size estimates the length of the answer, so that it is written into
// one buffer rather than a growing one.
func (e envelope) size() int {
	n := 0
	for _, c := range e.data {
		n += c.size()
	}
	return n
}

func (n node) size() int {
	s := 2*len(n.name) + 16 + len(n.text)
	for _, c := range n.children {
		s += c.size()
	}
	return s
}

// response is the Response element of the envelope.
func (e envelope) response() node {
	switch {
	case e.errCode != "":
		return elem("Response", elem("Error",
			leaf("Code", e.errCode), leaf("Parameter", e.errParam), leaf("Message", e.errMsg)))
	case len(e.data) > 0:
		return elem("Response", e.data...)
	default:
		return leaf("Response", e.word)
	}
}

// indents are the leading spaces of each depth of the envelope.
const indents = "                "

func writeXML(b *strings.Builder, n node, depth int) {
	indent := indents[:min(2*depth, len(indents))]
	b.WriteString(indent)
	b.WriteByte('<')
	b.WriteString(n.name)
	b.WriteByte('>')
	if n.leaf {
		latin1Text(b, n.text)
	} else {
		b.WriteByte('\n')
		for _, c := range n.children {
			writeXML(b, c, depth+1)
		}
		b.WriteString(indent)
	}
	b.WriteString("</")
	b.WriteString(n.name)
	b.WriteString(">\n")
}

// JSON writes the envelope as a JSON object {"Request": …, "Response": …}
// in UTF-8, keeping the order of the XML.
func (e envelope) JSON() string {
	var b strings.Builder
	b.Grow(256 + e.size())
	b.WriteString(`{"Request":`)
	writeJSONString(&b, e.request)
	b.WriteString(`,"Response":`)
	r := e.response()
	if r.leaf {
		writeJSONString(&b, r.text)
	} else {
		writeJSONObject(&b, r.children)
	}
	b.WriteString("}\n")
	return b.String()
}

func writeJSONObject(b *strings.Builder, children []node) {
	b.WriteByte('{')
	for i, c := range children {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, c.name)
		b.WriteByte(':')
		writeJSONValue(b, c)
	}
	b.WriteByte('}')
}

func writeJSONValue(b *strings.Builder, n node) {
	switch {
	case n.leaf && n.number:
		b.WriteString(n.text)
	case n.leaf:
		writeJSONString(b, n.text)
	case n.list:
		b.WriteByte('[')
		for i, c := range n.children {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONValue(b, c)
		}
		b.WriteByte(']')
	default:
		writeJSONObject(b, n.children)
	}
}

// writeJSONString writes s as a JSON string; <, > and & stay as they are
// (the answer is never embedded in HTML).
func writeJSONString(b *strings.Builder, s string) {
	if plainASCII(s) {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// Content types of the answers.
const (
	xmlContentType  = "text/xml; charset=iso-8859-1"
	jsonContentType = "application/json; charset=utf-8"
)

// write sends the envelope with the status, as JSON or XML.
func (e envelope) write(w http.ResponseWriter, status int, asJSON bool) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	var body string
	if asJSON {
		h.Set("Content-Type", jsonContentType)
		body = e.JSON()
	} else {
		h.Set("Content-Type", xmlContentType)
		body = e.XML()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
