using System.CommandLine;
using System.Globalization;
using Offload.Transforms.Apply;
using Offload.Transforms.Hadamard;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload hadamard`: which sizes have a Hadamard matrix (n = k·2^m), how a size decomposes, which construction
/// builds its base, and an exact check of H·Hᵀ = n·I.
/// </summary>
public static class HadamardCommand
{
    public static Command Create()
    {
        var size = new Argument<long?>("size") { Description = "A transform size to describe (e.g. 11008).", Arity = ArgumentArity.ZeroOrOne };
        var list = new Option<bool>("--list") { Description = "Print every supported size up to --max." };
        var max = new Option<long>("--max") { Description = "Largest size --list prints.", DefaultValueFactory = _ => HadamardSizes.DefaultListLimit };
        var check = new Option<bool>("--check") { Description = "Verify H·Hᵀ = n·I exactly for the size (or for every listed size)." };
        var cmd = new Command("hadamard", "List the sizes that have a Hadamard matrix, or describe and check one.");
        cmd.WithExamples("offload hadamard --list", "offload hadamard 11008 --check");
        cmd.Arguments.Add(size);
        cmd.Options.Add(list);
        cmd.Options.Add(max);
        cmd.Options.Add(check);
        cmd.SetAction(parse =>
        {
            var n = parse.GetValue(size);
            var doCheck = parse.GetValue(check);
            if (parse.GetValue(list))
            {
                var limit = parse.GetValue(max);
                foreach (var s in HadamardSizes.Supported(limit))
                {
                    var line = Describe(s);
                    if (doCheck) line += Check(s) ? "  ok" : "  FAILED";
                    Console.WriteLine(line);
                }
                return CliRunner.Success;
            }
            if (n is not { } value)
            {
                Console.Error.WriteLine("offload: hadamard: give a size (offload hadamard 11008) or --list");
                return CliRunner.UsageError;
            }
            if (!HadamardSizes.IsSupported(value))
            {
                // One line and exit 2, as CliRunner does for OffloadExceptions (System.CommandLine's own handler would
                // otherwise print a stack trace for an exception thrown inside an action).
                Console.Error.WriteLine($"offload: {HadamardSizes.UnsupportedMessage(value, "hadamard")}");
                return CliRunner.UsageError;
            }
            Console.WriteLine(Describe(value));
            Console.WriteLine($"  random-hadamard base (compressed-tensors' rule): {HadamardSizes.LibraryBaseOrder(value)}");
            if (doCheck)
            {
                var ok = Check(value);
                Console.WriteLine(ok ? "  H·Hᵀ = n·I: exact" : "  H·Hᵀ ≠ n·I");
                return ok ? CliRunner.Success : CliRunner.RunFailure;
            }
            return CliRunner.Success;
        });
        return cmd;
    }

    private static string Describe(long n)
    {
        HadamardSizes.TryDecompose(n, out var k, out var m);
        var how = k == 1 ? "Sylvester" : m == 1 ? HadamardBases.Describe(k) : $"{k} ({HadamardBases.Describe(k)}) ⊗ Sylvester {m}";
        return string.Create(CultureInfo.InvariantCulture, $"{n,6} = {k} × {m}  {how}");
    }

    /// <summary>
    /// Exact: K·Kᵀ = k·I in integers for the base, then the fast operator forward and transposed on integer vectors
    /// must return n·x exactly (f64 is exact on these integers) — with (K ⊗ S)(K ⊗ S)ᵀ = (K·Kᵀ) ⊗ (S·Sᵀ) = n·I.
    /// </summary>
    private static bool Check(long n)
    {
        if (n > int.MaxValue) return false;
        var op = HadamardOperator.Deterministic((int)n);
        if (op.Core is { } core && !core.IsHadamard()) return false;
        var rng = new System.Random(unchecked((int)n));
        for (var trial = 0; trial < 2; trial++)
        {
            var x = new double[n];
            for (var i = 0; i < n; i++) x[i] = rng.Next(-3, 4);
            var y = (double[])x.Clone();
            op.MultiplyRows(y, transpose: false);
            op.MultiplyRows(y, transpose: true);
            for (var i = 0; i < n; i++)
                if (y[i] != n * x[i]) return false;
        }
        return true;
    }
}
