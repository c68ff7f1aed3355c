import ConsoleProxy

await IPMIProxyCommand.main()
