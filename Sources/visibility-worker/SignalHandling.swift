import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns SIGTERM and SIGINT into calls of `handler` on a dispatch queue instead of
/// the default (immediate death). Keep the returned sources alive.
func handleTerminationSignals(_ handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
    handleSignals([SIGTERM, SIGINT], handler)
}

/// The same for any signals (SIGHUP: re-read the app secrets).
func handleSignals(_ signalNumbers: [Int32], _ handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
    signalNumbers.map { signalNumber in
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler { handler(signalNumber) }
        source.resume()
        return source
    }
}
