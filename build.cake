// MambaRef build script. Run: dotnet tool restore && dotnet cake [--target=Build|Test|Bench|Pack] [--configuration=Release]
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var benchFilter = Argument("filter", "*");

Task("Clean")
    .Does(() =>
{
    CleanDirectories("./src/**/bin/" + configuration);
    CleanDirectories("./tests/**/bin/" + configuration);
    CleanDirectories("./benchmarks/**/bin/" + configuration);
});

Task("Build")
    .Does(() =>
{
    DotNetBuild("./MambaRef.sln", new DotNetBuildSettings { Configuration = configuration });
});

Task("Test")
    .IsDependentOn("Build")
    .Does(() =>
{
    // The same command as the README and .ci/run.
    var exit = StartProcess("dotnet", new ProcessSettings { Arguments = $"test -c {configuration} --no-build" });
    if (exit != 0)
    {
        throw new Exception($"dotnet test failed with exit code {exit}");
    }
});

Task("Bench")
    .IsDependentOn("Build")
    .Does(() =>
{
    var exit = StartProcess("dotnet", new ProcessSettings
    {
        Arguments = $"run -c {configuration} --no-build --project benchmarks/MambaRef.Benchmarks -- --filter \"{benchFilter}\" --job short",
    });
    if (exit != 0)
    {
        throw new Exception($"benchmarks failed with exit code {exit}");
    }
});

Task("Pack")
    .IsDependentOn("Build")
    .Does(() =>
{
    var settings = new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = "./artifacts" };
    DotNetPack("./src/MambaRef/MambaRef.csproj", settings);
    DotNetPack("./src/MambaRef.Cli/MambaRef.Cli.csproj", settings);
});

RunTarget(target);
