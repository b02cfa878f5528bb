import GrantQueue
import QueueReadModels

/// The overview's chart as inline SVG: one stacked bar per minute of the last
/// hour (succeeded, retried, failed), drawn on the server, so the page needs no
/// chart library and no script to show it.
enum ActivityChart {
    static let width = 720.0
    static let height = 180.0
    static let left = 44.0
    static let bottom = 22.0
    static let top = 8.0

    static func svg(_ minutes: [ConsoleOverview.Minute]) -> String {
        let plotWidth = width - left - 8
        let plotHeight = height - bottom - top
        let most = max(1, minutes.map { $0.activity.succeeded + $0.activity.failed + $0.activity.retried }.max() ?? 1)
        // Four grid steps of a round size, so every grid value reads well.
        let scale = 4 * niceCeiling((most + 3) / 4)
        let slot = plotWidth / Double(max(1, minutes.count))
        var parts: [String] = []
        for step in 0...4 {  // horizontal grid lines with their values
            let value = scale * step / 4
            let y = top + plotHeight - plotHeight * Double(value) / Double(scale)
            parts.append("<line class=\"grid\" x1=\"\(left)\" x2=\"\(width - 8)\" y1=\"\(fmt(y))\" y2=\"\(fmt(y))\"/>")
            parts.append("<text class=\"axis\" x=\"\(left - 6)\" y=\"\(fmt(y + 4))\" text-anchor=\"end\">\(HTML.number(value))</text>")
        }
        for (index, minute) in minutes.enumerated() {
            let x = left + Double(index) * slot + 1
            var base = top + plotHeight
            let segments = [("succeeded", minute.activity.succeeded), ("retried", minute.activity.retried),
                            ("failed", minute.activity.failed)]
            for (kind, count) in segments where count > 0 {
                let barHeight = plotHeight * Double(count) / Double(scale)
                base -= barHeight
                parts.append("<rect class=\"\(kind)\" x=\"\(fmt(x))\" y=\"\(fmt(base))\" width=\"\(fmt(max(1, slot - 2)))\" height=\"\(fmt(barHeight))\">"
                    + "<title>\(minuteLabel(minute.minutesAgo)): \(HTML.number(count)) \(kind)</title></rect>")
            }
        }
        for ago in [60, 45, 30, 15, 0] where ago <= minutes.count {
            let x = left + Double(minutes.count - max(ago, 1)) * slot + (ago == 0 ? slot : 0)
            let label = ago == 0 ? "now" : "−\(ago) min"
            let anchor = ago == 0 ? "end" : (ago == minutes.count ? "start" : "middle")
            parts.append("<text class=\"axis\" x=\"\(fmt(x))\" y=\"\(fmt(height - 6))\" text-anchor=\"\(anchor)\">\(label)</text>")
        }
        return """
            <svg class="chart" viewBox="0 0 \(fmt(width)) \(fmt(height))" role="img" aria-label="Attempts per minute over the last hour">
            \(parts.joined(separator: "\n"))
            </svg>
            """
    }

    private static func minuteLabel(_ ago: Int) -> String {
        ago == 0 ? "this minute" : "\(ago) min ago"
    }

    /// The smallest of 1, 2 or 5 times a power of ten that is at least `value`.
    static func niceCeiling(_ value: Int) -> Int {
        var magnitude = 1
        while true {
            for step in [1, 2, 5] where step * magnitude >= value { return step * magnitude }
            magnitude *= 10
        }
    }

    private static func fmt(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
