using System.Text;

namespace Offload.Coordinator.Demo;

/// <summary>
/// Deterministic English-like text for the embedded demo (no download): short sentences drawn from a small grammar with
/// a seeded generator, paragraphs separated by blank lines (the evaluation protocol's parts).
/// </summary>
public static class DemoText
{
    private static readonly string[] Names = ["Lily", "Tom", "Mia", "Ben", "Sara", "Max", "Anna", "Sam"];
    private static readonly string[] Things = ["a red ball", "a small dog", "a big tree", "a blue box", "a happy cat", "a shiny car", "a soft bed", "a green frog"];
    private static readonly string[] Verbs = ["saw", "found", "liked", "wanted", "made", "took", "shared", "lost"];
    private static readonly string[] Places = ["in the park", "at home", "by the river", "in the garden", "at school", "near the sea"];
    private static readonly string[] Feelings = ["happy", "sad", "tired", "brave", "curious", "kind"];

    /// <summary>About <paramref name="paragraphs"/> × 6 sentences of text from <paramref name="seed"/>.</summary>
    public static string Generate(int paragraphs, int seed)
    {
        var rng = new Random(seed);
        string Pick(string[] a) => a[rng.Next(a.Length)];
        var sb = new StringBuilder();
        for (var p = 0; p < paragraphs; p++)
        {
            var name = Pick(Names);
            sb.Append("Once upon a time, ").Append(name).Append(' ').Append(Pick(Verbs)).Append(' ').Append(Pick(Things)).Append(' ').Append(Pick(Places)).Append(". ");
            for (var s = 0; s < 5; s++)
            {
                switch (rng.Next(3))
                {
                    case 0:
                        sb.Append(name).Append(" felt ").Append(Pick(Feelings)).Append(". ");
                        break;
                    case 1:
                        sb.Append(Pick(Names)).Append(' ').Append(Pick(Verbs)).Append(' ').Append(Pick(Things)).Append(". ");
                        break;
                    default:
                        sb.Append("They played ").Append(Pick(Places)).Append(" all day. ");
                        break;
                }
            }
            sb.Append("\n\n");
        }
        return sb.ToString();
    }
}
