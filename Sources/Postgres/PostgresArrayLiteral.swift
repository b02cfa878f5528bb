/// PostgreSQL's text form of a one-dimensional array: `{a,"b c",NULL}`.
public enum PostgresArrayLiteral {
    /// Every element is double-quoted with `"` and `\` escaped; `nil` becomes an
    /// unquoted NULL. Quoting all elements keeps `"NULL"`, empty strings, spaces,
    /// commas and braces as the text they are.
    public static func encode(_ elements: [String?]) -> String {
        var literal = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            guard let element else {
                literal += "NULL"
                continue
            }
            literal += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        literal += "}"
        return literal
    }

    /// Parses the server's output for a one-dimensional array. An unquoted NULL is
    /// `nil`; a quoted "NULL" is the string. Multi-dimensional arrays are refused.
    public static func decode(_ literal: String) throws(PostgresDecodingError) -> [String?] {
        var scalars = Substring(literal).unicodeScalars[...]
        func fail(_ reason: String) -> PostgresDecodingError {
            PostgresDecodingError(type: "array", reason: reason, value: literal)
        }
        // Arrays with a lower bound other than 1 are printed as `[0:2]={...}`.
        if scalars.first == "[" {
            guard let equals = scalars.firstIndex(of: "=") else { throw fail("bad dimension decoration") }
            scalars = scalars[scalars.index(after: equals)...]
        }
        guard scalars.first == "{", scalars.last == "}" else { throw fail("not an array literal") }
        scalars = scalars.dropFirst().dropLast()
        var elements: [String?] = []
        if scalars.isEmpty { return elements }

        var iterator = scalars.makeIterator()
        var current = String.UnicodeScalarView()
        var quoted = false
        var sawQuotes = false
        var escaping = false
        var afterQuote = false

        func finishElement() {
            let text = String(current)
            if !sawQuotes && text.uppercased() == "NULL" {
                elements.append(nil)
            } else {
                elements.append(text)
            }
            current = String.UnicodeScalarView()
            sawQuotes = false
            afterQuote = false
        }

        while let scalar = iterator.next() {
            if escaping {
                current.append(scalar)
                escaping = false
                continue
            }
            if quoted {
                switch scalar {
                case "\\": escaping = true
                case "\"":
                    quoted = false
                    afterQuote = true
                default: current.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"":
                guard current.isEmpty, !sawQuotes else { throw fail("misplaced quote") }
                quoted = true
                sawQuotes = true
            case "\\":
                escaping = true
            case ",":
                finishElement()
            case "{", "}":
                throw fail("multi-dimensional arrays are not supported")
            default:
                if afterQuote {
                    if scalar == " " { continue }
                    throw fail("text after a quoted element")
                }
                current.append(scalar)
            }
        }
        guard !quoted, !escaping else { throw fail("unterminated element") }
        finishElement()
        return elements
    }
}
