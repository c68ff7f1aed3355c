import Core

/// `pxe` boot.
public struct PXEBoot: BootInterface {
    public let name = "pxe"
    let settings: DeployConfig

    /// Creates the interface over `[deploy]`/`[pxe]` settings.
    public init(settings: DeployConfig) {
        self.settings = settings
    }
}
