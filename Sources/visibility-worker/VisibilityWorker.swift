import ArgumentParser

@main
struct VisibilityWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visibility-worker",
        abstract: "Applies DingTalk 'visible in other organization' grants queued in PostgreSQL.",
        discussion: """
            Producers insert rows into visibility_grant_jobs; any number of `run`
            processes claim and apply them. Every flag that names a setting also
            reads an environment variable (shown in each command's --help).

            Example:
              export DATABASE_URL=postgresql://queue@db.internal/grants
              visibility-worker migrate
              visibility-worker enqueue --corp-id ding123 --opt-user-id 102530009661373952
              visibility-worker status
            """,
        version: BuildVersion.versionText,
        subcommands: [
            MigrateCommand.self, EnqueueCommand.self, StatusCommand.self, RunCommand.self, RetryCommand.self, CancelCommand.self,
            PruneCommand.self, ApplyCommand.self, AppsCommand.self, WaitCommand.self, FakeDingTalkCommand.self, ConsoleCommand.self,
        ]
    )
}
