package protocol

// Language is a session's programming language.
type Language string

// The languages the protocol allows.
const (
	LangJavaScript Language = "javascript"
	LangTypeScript Language = "typescript"
	LangPython     Language = "python"
	LangJava       Language = "java"
	LangGo         Language = "go"
	LangC          Language = "c"
	LangCPP        Language = "cpp"
	LangCSharp     Language = "csharp"
	LangRuby       Language = "ruby"
	LangRust       Language = "rust"
	LangKotlin     Language = "kotlin"
	LangSwift      Language = "swift"
	LangPHP        Language = "php"
	LangSQL        Language = "sql"
)

// languageTable is the one list of languages, in the protocol's order, with
// the file extension the code exports as (GET .../code as text/plain names
// the file main.<ext>).
var languageTable = []struct {
	lang Language
	ext  string
}{
	{LangJavaScript, "js"},
	{LangTypeScript, "ts"},
	{LangPython, "py"},
	{LangJava, "java"},
	{LangGo, "go"},
	{LangC, "c"},
	{LangCPP, "cpp"},
	{LangCSharp, "cs"},
	{LangRuby, "rb"},
	{LangRust, "rs"},
	{LangKotlin, "kt"},
	{LangSwift, "swift"},
	{LangPHP, "php"},
	{LangSQL, "sql"},
}

// Languages lists every valid language, in the protocol's order.
var Languages = func() []Language {
	out := make([]Language, len(languageTable))
	for i, l := range languageTable {
		out[i] = l.lang
	}
	return out
}()

// Valid reports whether l is one of the protocol's languages.
func (l Language) Valid() bool { return l.Extension() != "" }

// Extension is the file extension (without the dot) code in l exports as;
// empty for a language the protocol does not know.
func (l Language) Extension() string {
	for _, e := range languageTable {
		if e.lang == l {
			return e.ext
		}
	}
	return ""
}
